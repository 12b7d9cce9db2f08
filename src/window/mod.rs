//! The window into HTTP: what lets a person see the exchange itself.
//!
//! - [`dump`]: `--dump DIR`, the exact bytes of every request and response
//!   head in files;
//! - [`reply`]: `--reply FILE`, one raw response for every request;
//! - [`echo`]: `--echo`, each request sent back as the body;
//! - [`raw`]: the `henaserver raw` client, which sends bytes as written and
//!   prints the answer as received.
//!
//! None of these knows a protocol's framing: `reply` and `echo` make
//! protocol-neutral plans, `dump` stores the bytes a protocol hands it.

pub mod dump;
pub mod echo;
pub mod raw;
pub mod reply;
