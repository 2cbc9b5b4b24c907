#include "tempfile/spool.hpp"
