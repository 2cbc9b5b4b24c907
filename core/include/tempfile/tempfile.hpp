// libtempfile: Python's tempfile module in C++20. Include this one header.
//
// Read as Python's module outline (namespace tempfile):
//
//   High-level, safe, cleaned up for you (RAII, move-only):
//     TemporaryFile()            a File with no name at all             temporary_file.hpp
//     NamedTemporaryFile         a file with a name; delete, delete_on_close
//                                                                 named_temporary_file.hpp
//     SpooledTemporaryFile       in RAM until max_size, then a TemporaryFile
//                                                               spooled_temporary_file.hpp
//     TemporaryDirectory         a directory, removed with its tree  temporary_directory.hpp
//
//   Low-level, safe, the caller removes what is made:
//     mkstemp()                  a new 0600 file: {FileDescriptor, path}      mkstemp.hpp
//     mkdtemp()                  a new 0700 directory: path                   mkstemp.hpp
//
//   Defaults:
//     gettempdir(), gettempprefix(), tempdir() / set_tempdir()     tempdir.hpp
//     max_tries (Python's TMP_MAX), random_name()                  names.hpp
//
//   Deprecated, unsafe:
//     mktemp()                   a name that was free a moment ago    mkstemp.hpp
//
//   Building blocks: File (file.hpp), FileDescriptor (fd.hpp), Spool (spool.hpp).
//
// Errors are std::system_error in std::generic_category() carrying the errno; paths are
// std::filesystem::path. Each header states its security promise and what a killed
// process leaves on disk.
#pragma once

#include "tempfile/fd.hpp"
#include "tempfile/file.hpp"
#include "tempfile/mkstemp.hpp"
#include "tempfile/named_temporary_file.hpp"
#include "tempfile/names.hpp"
#include "tempfile/spool.hpp"
#include "tempfile/spooled_temporary_file.hpp"
#include "tempfile/tempdir.hpp"
#include "tempfile/temporary_directory.hpp"
#include "tempfile/temporary_file.hpp"
