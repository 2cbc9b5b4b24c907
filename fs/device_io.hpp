// DeviceIo: the session's reads from and writes to /dev/fuse (libfuse's custom I/O
// hooks), where spoolfs speaks the parts of the kernel's protocol that libfuse 3.14
// does not know:
// - FUSE_TMPFILE (open with O_TMPFILE) becomes a CREATE of the name "/", which the Tree
//   takes as "no name at all" (same request body).
// - Reads are taken one at a time (read_turn.hpp), and a RELEASE is applied to the
//   namespace before the next request is read: a stat() that follows close() in any
//   process finds the name of a lifetime-close file already gone, however the worker
//   threads are scheduled (on the ring too: arrival_order.hpp). FORGET and BATCH_FORGET too, so a file's data is freed
//   before any request that follows its FORGET. The kernel usually queues that FORGET
//   before unlink(2) returns, not always: in 3 of 15 runs of a write 3 MiB, unlink
//   loop (-s) it came after the next request; and after 16 forgets in a row the kernel
//   lets up to 8 requests pass. nr_inodes= does not wait for FORGET at all (tree.hpp).
// - FUSE_HANDLE_KILLPRIV_V2 is accepted in the INIT reply, so the kernel stops asking
//   GETXATTR("security.capability") before every write; in exchange, the kill-suid
//   flags of WRITE, SETATTR and OPEN are applied here.
// - FUSE_OVER_IO_URING is accepted in the INIT reply when the Ring wants it, and the
//   Ring starts once the kernel took that reply (ring_io.hpp); replies to requests that
//   came on the ring go back there.
// - FUSE_PASSTHROUGH is accepted in the INIT reply when wanted, and OPEN and CREATE
//   replies carry the backing id of a file the kernel is to serve itself
//   (passthrough.hpp).
#pragma once

#include <fuse_lowlevel.h>

#include <linux/fuse.h>

#include <cstddef>
#include <cstdint>

namespace spoolfs {

// The hooks; their userdata is the session's Filesystem.
const fuse_custom_io& device_io();

class Filesystem;

// What is applied to a request of `n` bytes as it arrives, before the next one is taken
// (the list above); the ring's requests pass here too.
void apply_before_dispatch(Filesystem& fs, fuse_in_header* header, std::size_t n);

// Whether serving the request may take long: the thread steps aside first (read_turn.hpp).
bool may_take_long(const fuse_in_header* header, std::size_t n);

// fuse_reply_open and fuse_reply_create, served by passthrough from `backing_id`
// unless it is 0.
int reply_open(fuse_req_t req, const fuse_file_info* fi, std::int32_t backing_id);
int reply_create(fuse_req_t req, const fuse_entry_param* e, const fuse_file_info* fi,
                 std::int32_t backing_id);

}  // namespace spoolfs
