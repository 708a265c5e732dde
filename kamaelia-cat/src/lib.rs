//! # kamaelia-cat
//!
//! The Co-ordinating Assistant Tracker (CAT): per-scheduler **services** (a name → a
//! component's inbox, so components find each other without being wired together) and
//! **tracked values** (named, serde-serialisable statistics), plus the [`Backplane`]: a named
//! many-to-many bus built on services.
//!
//! There is one CAT per scheduler, reached from inside a component with [`Cat::current`] (or
//! from outside with [`Cat::of`]); two schedulers in one process never see each other's. On
//! several cores ([`axon_core::Cores`]) a service registered with
//! [`Cat::register_shared_service`] is also found from every other core, as a cross-core
//! address ([`Cat::retrieve_cross_service`]), and [`Backplane::spanning_cores`] is a bus every
//! core can publish to and subscribe to.
//!
//! ```
//! use axon_core::{Inbox, Scheduler};
//! use kamaelia_cat::Cat;
//!
//! let scheduler = Scheduler::new();
//! let cat = Cat::of(&scheduler);
//! let requests: Inbox<String> = Inbox::new();
//! cat.register_service("greeter", requests.to_ref()).unwrap();
//! let found = cat.retrieve_service::<String>("greeter").unwrap();
//! found.try_send("hello".to_string()).unwrap();
//!
//! cat.track_value("net.tcp.connections", 0).unwrap();
//! cat.update_value("net.tcp.connections", 3).unwrap();
//! assert_eq!(cat.retrieve_value::<u32>("net.tcp.connections").unwrap(), 3);
//! assert_eq!(cat.values_json()["net.tcp.connections"], 3);
//! ```
//!
//! ## Naming convention
//!
//! Names are dot-separated, most general first: `<area>.<instance>.<what>`, lower case,
//! instance parts as they print (addresses keep their colons). Crates publish under their own
//! area so names never clash:
//!
//! | name | kind | who |
//! |---|---|---|
//! | `backplane.<name>` | service: the bus's data inbox | [`Backplane`] |
//! | `backplane.<name>.requests` | service: subscribe / unsubscribe | [`Backplane`] |
//! | `backplane.<name>.remote` | shared service: subscriptions from other cores | [`Backplane::spanning_cores`] |
//! | `backplane.<name>.subscribers` | value: current subscribers | [`Backplane`] |
//! | `backplane.<name>.published` | value: values published | [`Backplane`] |
//! | `backplane.<name>.dropped` | value: values dropped by `DropOldest` subscribers | [`SubscribeTo`] |
//! | `backplane.<name>.disconnected` | value: subscribers removed by `Disconnect` | [`SubscribeTo`] |
//! | `net.tcp.<bind>.connections`, `.accepted`, `.refused`, `.bytes_in`, `.bytes_out` | values | kamaelia-net `TcpServer` |
//! | `net.live.<bind>.listeners`, `.connections`, `.served`, `.dropped`, `.refused`, `.not_found`, `.bad_requests`, `.bytes_out`, `.chunks` | values | kamaelia-net `LiveHttpServer` |
#![forbid(unsafe_code)]

mod backplane;
mod cat;

pub use backplane::{
    Backplane, BackplaneRequest, Policy, PublishTo, RemoteSubscribe, SubscribeTo, Subscription,
};
pub use cat::{Cat, CatError, ServiceInfo};
