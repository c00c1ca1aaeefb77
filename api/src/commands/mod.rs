//! One module per subcommand.

pub mod audit;
pub mod bench;
pub mod bench_projections;
pub mod debug;
pub mod export;
pub mod import;
pub mod keys;
pub mod kpi;
pub mod projections;
pub mod registers;
pub mod report;
pub mod retention;
pub mod seed;
pub mod serve;
pub mod show;
pub mod stats;
pub mod token;
pub mod verify;
