//! Services and tracked values.

use axon_core::{InboxRef, Scheduler};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

/// The Co-ordinating Assistant Tracker of one scheduler.
#[derive(Default)]
#[doc(alias("CoordinatingAssistantTracker", "CAT"))]
pub struct Cat {
    services: RefCell<BTreeMap<String, Service>>,
    values: RefCell<BTreeMap<String, serde_json::Value>>,
    /// Services this CAT also registered for every core (see
    /// [`register_shared_service`](Cat::register_shared_service)).
    shared_here: RefCell<Vec<String>>,
}

/// The services registered for every core of one [`Cores`](axon_core::Cores): a name → a
/// cross-core address. One per `Cores` (a [`CoresHandle::extension`]); each core's own CAT
/// stays its own.
///
/// [`CoresHandle::extension`]: axon_core::CoresHandle::extension
#[derive(Default)]
struct SharedServices {
    map: std::sync::Mutex<BTreeMap<String, SharedService>>,
}

struct SharedService {
    /// A `CrossInbox<T>`.
    address: Box<dyn Any + Send + Sync>,
    type_id: TypeId,
    type_name: &'static str,
}

fn shared_services(cores: &axon_core::CoresHandle) -> std::sync::Arc<SharedServices> {
    cores.extension::<SharedServices>()
}

impl std::fmt::Debug for Cat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cat")
            .field("services", &self.services().len())
            .field("values", &self.values().len())
            .finish()
    }
}

struct Service {
    inbox: Rc<dyn Any>,
    type_id: TypeId,
    type_name: &'static str,
}

/// A registered service, as listed by [`Cat::services`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServiceInfo {
    /// Its name.
    pub name: String,
    /// The type of message its inbox takes.
    pub message_type: &'static str,
}

/// What the CAT could not do.
#[derive(Debug)]
#[non_exhaustive]
pub enum CatError {
    /// A service of that name is already registered.
    ServiceAlreadyExists {
        /// The name.
        name: String,
    },
    /// No service of that name is registered.
    NoSuchService {
        /// The name.
        name: String,
    },
    /// The service takes another type of message.
    TypeMismatch {
        /// The name.
        name: String,
        /// The type asked for.
        expected: &'static str,
        /// The type registered.
        stored: &'static str,
    },
    /// A value of that name is already tracked.
    NamespaceClash {
        /// The name.
        name: String,
    },
    /// No value of that name is tracked (declare it with `track_value` first).
    AccessToUndeclaredTrackedVariable {
        /// The name.
        name: String,
    },
    /// A value could not be converted to or from JSON.
    Value {
        /// The name.
        name: String,
        /// What serde said.
        error: serde_json::Error,
    },
    /// Called outside a running component, so there is no current scheduler.
    NoScheduler,
}

impl fmt::Display for CatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CatError::ServiceAlreadyExists { name } => {
                write!(f, "a service named {name:?} is already registered")
            }
            CatError::NoSuchService { name } => write!(f, "no service named {name:?}"),
            CatError::TypeMismatch {
                name,
                expected,
                stored,
            } => write!(
                f,
                "service {name:?} takes {stored}, not the {expected} asked for"
            ),
            CatError::NamespaceClash { name } => {
                write!(f, "a value named {name:?} is already tracked")
            }
            CatError::AccessToUndeclaredTrackedVariable { name } => write!(
                f,
                "no value named {name:?} is tracked (declare it with track_value first)"
            ),
            CatError::Value { name, error } => write!(f, "value {name:?}: {error}"),
            CatError::NoScheduler => f.write_str(
                "the CAT of the current scheduler was asked for outside a running component",
            ),
        }
    }
}

impl std::error::Error for CatError {}

impl From<CatError> for axon_core::ComponentError {
    fn from(e: CatError) -> Self {
        axon_core::ComponentError::msg(e)
    }
}

impl Cat {
    /// The CAT of the scheduler running the current component.
    pub fn current() -> Result<Rc<Cat>, CatError> {
        axon_core::extension::<Cat>().ok_or(CatError::NoScheduler)
    }

    /// The CAT of `scheduler`.
    pub fn of(scheduler: &Scheduler) -> Rc<Cat> {
        scheduler.extension::<Cat>()
    }

    /// Registers `inbox` under `name`, so components can find it by name.
    pub fn register_service<T: 'static>(
        &self,
        name: impl Into<String>,
        inbox: InboxRef<T>,
    ) -> Result<(), CatError> {
        let name = name.into();
        let mut services = self.services.borrow_mut();
        if services.contains_key(&name) {
            return Err(CatError::ServiceAlreadyExists { name });
        }
        services.insert(
            name,
            Service {
                inbox: Rc::new(inbox),
                type_id: TypeId::of::<T>(),
                type_name: std::any::type_name::<T>(),
            },
        );
        Ok(())
    }

    /// Registers `inbox` under `name` here and for every core of the [`Cores`] this scheduler
    /// belongs to, where [`retrieve_cross_service`](Self::retrieve_cross_service) finds it as
    /// a cross-core address (so `T` must be `Send`). On a scheduler that is not one of a
    /// `Cores`, it is an ordinary service. Call it inside a component (or in
    /// [`CoresHandle::on`]); the shared name keeps the link to `inbox` open until
    /// [`deregister_service`](Self::deregister_service).
    ///
    /// [`Cores`]: axon_core::Cores
    /// [`CoresHandle::on`]: axon_core::CoresHandle::on
    pub fn register_shared_service<T: Send + 'static>(
        &self,
        name: impl Into<String>,
        inbox: InboxRef<T>,
    ) -> Result<(), CatError> {
        let name = name.into();
        let Some(cores) = axon_core::current_cores() else {
            return self.register_service(name, inbox);
        };
        let shared = shared_services(&cores);
        let mut map = shared.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.contains_key(&name) {
            return Err(CatError::ServiceAlreadyExists { name });
        }
        let address =
            axon_core::CrossInbox::data(inbox.clone()).map_err(|_| CatError::NoScheduler)?;
        self.register_service(name.clone(), inbox)?;
        map.insert(
            name.clone(),
            SharedService {
                address: Box::new(address),
                type_id: TypeId::of::<T>(),
                type_name: std::any::type_name::<T>(),
            },
        );
        self.shared_here.borrow_mut().push(name);
        Ok(())
    }

    /// The cross-core address of the service registered under `name` on any core of this
    /// scheduler's [`Cores`](axon_core::Cores) (with
    /// [`register_shared_service`](Self::register_shared_service)), if it takes `T`.
    pub fn retrieve_cross_service<T: Send + 'static>(
        &self,
        name: &str,
    ) -> Result<axon_core::CrossInbox<T>, CatError> {
        let missing = || CatError::NoSuchService {
            name: name.to_string(),
        };
        let cores = axon_core::current_cores().ok_or_else(missing)?;
        let shared = shared_services(&cores);
        let map = shared.map.lock().unwrap_or_else(|p| p.into_inner());
        let service = map.get(name).ok_or_else(missing)?;
        takes::<T>(name, service.type_id, service.type_name)?;
        service
            .address
            .downcast_ref::<axon_core::CrossInbox<T>>()
            .cloned()
            .ok_or_else(missing)
    }

    /// Waits until a service `name` is shared by some core of this scheduler's
    /// [`Cores`](axon_core::Cores), for at most `patience`; true if it is. Components started
    /// on several cores at once race each other, so a component looking for a service another
    /// core is about to share waits a moment rather than failing at once.
    pub async fn wait_for_shared_service(&self, name: &str, patience: std::time::Duration) -> bool {
        let Some(cores) = axon_core::current_cores() else {
            return false;
        };
        let shared = shared_services(&cores);
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            if shared
                .map
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains_key(name)
            {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// The inbox registered under `name`, if it takes `T`.
    pub fn retrieve_service<T: 'static>(&self, name: &str) -> Result<InboxRef<T>, CatError> {
        let services = self.services.borrow();
        let service = services.get(name).ok_or_else(|| CatError::NoSuchService {
            name: name.to_string(),
        })?;
        takes::<T>(name, service.type_id, service.type_name)?;
        service
            .inbox
            .downcast_ref::<InboxRef<T>>()
            .cloned()
            .ok_or_else(|| CatError::NoSuchService {
                name: name.to_string(),
            })
    }

    /// Removes the service `name` (and, if this CAT shared it, its entry for every core).
    pub fn deregister_service(&self, name: &str) -> Result<(), CatError> {
        let mut shared_here = self.shared_here.borrow_mut();
        if let Some(i) = shared_here.iter().position(|n| n == name) {
            shared_here.swap_remove(i);
            if let Some(cores) = axon_core::current_cores() {
                let shared = shared_services(&cores);
                let gone = shared
                    .map
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(name);
                drop(gone); // the address goes: the link closes once its queue is drained
            }
        }
        drop(shared_here);
        self.services
            .borrow_mut()
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| CatError::NoSuchService {
                name: name.to_string(),
            })
    }

    /// Every registered service, by name.
    pub fn services(&self) -> Vec<ServiceInfo> {
        self.services
            .borrow()
            .iter()
            .map(|(name, s)| ServiceInfo {
                name: name.clone(),
                message_type: s.type_name,
            })
            .collect()
    }

    /// Declares a tracked value. Fails if `name` is already tracked.
    pub fn track_value(
        &self,
        name: impl Into<String>,
        value: impl Serialize,
    ) -> Result<(), CatError> {
        let name = name.into();
        let json = to_json(&name, value)?;
        let mut values = self.values.borrow_mut();
        if values.contains_key(&name) {
            return Err(CatError::NamespaceClash { name });
        }
        values.insert(name, json);
        Ok(())
    }

    /// Updates a tracked value. Fails if it was never declared.
    pub fn update_value(&self, name: &str, value: impl Serialize) -> Result<(), CatError> {
        let json = to_json(name, value)?;
        match self.values.borrow_mut().get_mut(name) {
            Some(slot) => {
                *slot = json;
                Ok(())
            }
            None => Err(CatError::AccessToUndeclaredTrackedVariable {
                name: name.to_string(),
            }),
        }
    }

    /// Declares the value if needed, then sets it: for counters a component owns.
    pub fn set_value(&self, name: &str, value: impl Serialize) -> Result<(), CatError> {
        let json = to_json(name, value)?;
        self.values.borrow_mut().insert(name.to_string(), json);
        Ok(())
    }

    /// Adds `delta` to a numeric value, declaring it at 0 first if needed.
    pub fn add_to_value(&self, name: &str, delta: i64) {
        let mut values = self.values.borrow_mut();
        // Looked up by &str first: counters are bumped often, declared once.
        if let Some(slot) = values.get_mut(name) {
            let now = slot.as_i64().unwrap_or(0).saturating_add(delta);
            *slot = serde_json::Value::from(now);
        } else {
            values.insert(name.to_string(), serde_json::Value::from(delta));
        }
    }

    /// A tracked value, as `V`.
    pub fn retrieve_value<V: DeserializeOwned>(&self, name: &str) -> Result<V, CatError> {
        let values = self.values.borrow();
        let json = values
            .get(name)
            .ok_or_else(|| CatError::AccessToUndeclaredTrackedVariable {
                name: name.to_string(),
            })?;
        serde_json::from_value(json.clone()).map_err(|error| CatError::Value {
            name: name.to_string(),
            error,
        })
    }

    /// Every tracked value, by name, as JSON.
    pub fn values(&self) -> Vec<(String, serde_json::Value)> {
        self.values
            .borrow()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// A snapshot of every tracked value as one JSON object (for stats pages).
    pub fn values_json(&self) -> serde_json::Value {
        serde_json::Value::Object(self.values.borrow().clone().into_iter().collect())
    }
}

/// `Ok` when the service `name`, registered for messages of `stored`, takes `T`.
fn takes<T: 'static>(name: &str, type_id: TypeId, stored: &'static str) -> Result<(), CatError> {
    if type_id == TypeId::of::<T>() {
        return Ok(());
    }
    Err(CatError::TypeMismatch {
        name: name.to_string(),
        expected: std::any::type_name::<T>(),
        stored,
    })
}

fn to_json(name: &str, value: impl Serialize) -> Result<serde_json::Value, CatError> {
    serde_json::to_value(value).map_err(|error| CatError::Value {
        name: name.to_string(),
        error,
    })
}
