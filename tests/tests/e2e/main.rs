//! End-to-end proof of the SDK (issue 4): the real `cairn` Client (tokio + reqwest,
//! SledStore on real files) against the real `cairn-collector` binary on loopback.
//! Every assertion is on what a user of the collector sees: its feed.
//!
//! Needs the workspace binaries built first (`cargo build --workspace --bins`, as
//! scripts/test.sh does): target/<profile>/cairn-collector and cairn-example-native.

mod consent;
mod crash;
mod delivery;
mod example;
mod first_hour;
mod identity;
mod readme_commands;
mod run_command;
mod shop_loop;
