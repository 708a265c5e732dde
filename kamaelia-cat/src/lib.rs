//! The Co-ordinating Assistant Tracker: named services, tracked values and the Backplane bus for Kamaelia components.
//!
//! **Not built yet.** This crate will hold the per-scheduler service registry (name → a component's inbox), tracked key/values for statistics, and Backplane / PublishTo / SubscribeTo. Nothing in it works yet; see issue 5 of the project.
#![forbid(unsafe_code)]
