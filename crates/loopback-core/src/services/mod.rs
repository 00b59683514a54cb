//! Naming the real service behind a listener, where its bind address is set, and the exact
//! change that binds it to loopback.
//!
//! The knowledge is data (`data/services.toml`, compiled in); this module matches processes
//! against it, finds the configuration file the process runs with, and reads the current value.
//! Files are read as the process sees them (`SystemView::read_process_file`): inside its
//! root, with its owner's rights, bounded, while the snapshot is captured; a file that was
//! refused becomes a warning when it is judged.
//!
//! - [`table`]: the compiled-in knowledge and process matching;
//! - [`readers`]: reading a setting out of a file or a command line;
//! - [`ask`]: asking a running service for its setting, and whether a value fits what is seen;
//! - `identify`: putting them together for one listener, with files from a snapshot.

pub mod ask;
mod identify;
pub mod readers;
mod table;

pub use identify::{capture_files, ConfigFiles, Identified, Identifier, LiveFiles};
pub use table::{table, Reader, ServiceDef};
