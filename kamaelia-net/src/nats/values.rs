//! Tracked values the whole cluster can read: a JetStream key/value bucket, with the CAT's
//! values copied into it by [`ClusterValues::share`].

use super::{Cluster, ClusterError, check_name};
use async_nats::jetstream::{self, kv, stream};
use kamaelia_cat::Cat;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::time::Duration;

/// A key/value bucket every process of the cluster sees (JetStream must be enabled on the
/// server: `nats-server -js`). Values are JSON, as the CAT keeps them, so `nats kv get` shows
/// them readably.
#[derive(Clone)]
pub struct ClusterValues {
    store: kv::Store,
    bucket: String,
}

impl fmt::Debug for ClusterValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterValues")
            .field("bucket", &self.bucket)
            .finish()
    }
}

impl ClusterValues {
    /// Opens the bucket `bucket` (letters, digits, `-` and `_`), creating it if it is missing.
    ///
    /// The bucket's stream (`KV_<bucket>`) is created here rather than by async-nats's
    /// `create_key_value`, whose request the 2.9 servers Debian ships refuse; the result is
    /// the same bucket (one value per key, in memory).
    pub async fn open(cluster: &Cluster, bucket: &str) -> Result<ClusterValues, ClusterError> {
        if bucket.contains('.') {
            return Err(ClusterError::BadName {
                what: "bucket",
                name: bucket.to_string(),
            });
        }
        check_name("bucket", bucket)?;
        let js = jetstream::new(cluster.client().clone());
        let store = match js.get_key_value(bucket).await {
            Ok(store) => store,
            Err(_) => {
                js.get_or_create_stream(stream::Config {
                    name: format!("KV_{bucket}"),
                    subjects: vec![format!("$KV.{bucket}.>")],
                    max_messages_per_subject: 1,
                    storage: stream::StorageType::Memory,
                    discard: stream::DiscardPolicy::New,
                    allow_rollup: true,
                    deny_delete: true,
                    allow_direct: true,
                    ..Default::default()
                })
                .await
                .map_err(|e| ClusterError::Nats(format!("creating the bucket {bucket:?}: {e}")))?;
                js.get_key_value(bucket).await.map_err(|e| {
                    ClusterError::Nats(format!("opening the bucket {bucket:?}: {e}"))
                })?
            }
        };
        Ok(ClusterValues {
            store,
            bucket: bucket.to_string(),
        })
    }

    /// Sets `key` to `value`. Keys may hold letters, digits and `-_=./`; any other character
    /// is written as `_`.
    pub async fn set(&self, key: &str, value: &impl Serialize) -> Result<(), ClusterError> {
        let json = serde_json::to_vec(value).map_err(ClusterError::nats)?;
        self.store
            .put(safe_key(key), json.into())
            .await
            .map(|_| ())
            .map_err(ClusterError::nats)
    }

    /// The value of `key`, if it has one. A value of another type is an error, not `None`.
    pub async fn get<V: DeserializeOwned>(&self, key: &str) -> Result<Option<V>, ClusterError> {
        let Some(bytes) = self
            .store
            .get(safe_key(key))
            .await
            .map_err(ClusterError::nats)?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ClusterError::Nats(format!("the value of {key:?} is not readable: {e}")))
    }

    /// Every key in the bucket.
    pub async fn keys(&self) -> Result<Vec<String>, ClusterError> {
        use futures::TryStreamExt;
        let keys = self.store.keys().await.map_err(ClusterError::nats)?;
        keys.try_collect().await.map_err(ClusterError::nats)
    }

    /// Copies the CAT's tracked values into the bucket as `<node>.<value name>`, now and then
    /// every `every`, until the scheduler ends; run it with `tokio::task::spawn_local` or
    /// inside a component. Values that fail to copy are logged and tried again next time.
    pub async fn share(self, cat: std::rc::Rc<Cat>, node: String, every: Duration) {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            for (name, value) in cat.values() {
                if let Err(e) = self.set(&format!("{node}.{name}"), &value).await {
                    tracing::warn!(bucket = %self.bucket, %name, error = %e, "a value was not shared");
                }
            }
        }
    }
}

/// A KV key: `[-/_=.a-zA-Z0-9]+`, with no leading or trailing dot.
fn safe_key(key: &str) -> String {
    let mut safe: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '/' | '_' | '=' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    while safe.starts_with('.') {
        safe.replace_range(0..1, "_");
    }
    while safe.ends_with('.') {
        safe.pop();
        safe.push('_');
    }
    if safe.is_empty() {
        safe.push('_');
    }
    safe
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_made_safe() {
        assert_eq!(
            super::safe_key("edge-1.net.tcp.127.0.0.1:8000.connections"),
            "edge-1.net.tcp.127.0.0.1_8000.connections"
        );
        assert_eq!(super::safe_key(".a b."), "_a_b_");
        assert_eq!(super::safe_key(""), "_");
    }
}
