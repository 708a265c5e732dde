//! The topology snapshot: components, boxes (dormant ones too) and linkages as they are now,
//! with each component's state derived from the queues and its boxes.

use super::*;
use executor::Inner;

impl Inner {
    /// Components queued to run: in the local queue (this thread's, or the one swapped into
    /// `LOCAL_READY` during a poll) or the remote one (emptied and refilled in order).
    fn queued(&self) -> std::collections::HashSet<ComponentId> {
        let mut queued: Vec<Address> = self.local.borrow().iter().copied().collect();
        if POLLING.get() == u32::from(self.shared.index) + 1 {
            LOCAL_READY.with(|q| queued.extend(q.borrow().iter().copied()));
        }
        // The shared queue cannot be read in place: its wakes move to the home queue, which
        // runs before it, so they keep their order.
        {
            let mut home = self.local.borrow_mut();
            while let Ok(address) = self.shared.ready.pop() {
                queued.push(address);
                home.push_back(address);
            }
        }
        let table = self.table.borrow();
        queued
            .into_iter()
            .filter_map(|a| {
                let slot = table.slots.get(a.slot() as usize)?;
                (slot.generation & waker::GENERATION_MASK == a.generation()).then_some(
                    ComponentId {
                        index: a.slot(),
                        generation: slot.generation,
                    },
                )
            })
            .collect()
    }

    pub(super) fn topology(&self) -> Topology {
        let queued = self.queued();
        let table = self.table.borrow();
        let current = CURRENT_COMPONENT.get();
        let mut topology = Topology {
            core: crate::cores::current_core(),
            failures: self.failures.borrow().iter().cloned().collect(),
            ..Topology::default()
        };
        for id in table.ids() {
            let entry = table.get(id).expect("listed id");
            let measured = self.stats.borrow().as_ref().map(|stats| {
                let s = stats.get(id);
                ComponentStats {
                    polls: s.polls,
                    busy_us: s.busy.as_micros() as u64,
                    since_last_run_ms: s.last_run.map(|at| at.elapsed().as_millis() as u64),
                }
            });
            topology.components.push(ComponentInfo {
                id,
                name: entry.name.as_str().to_string(),
                parent: entry.parent,
                stats: measured,
                state: if current == Some(id) {
                    ComponentState::Running
                } else if entry.all_boxes().iter().any(|b| b.handle.blocked()) {
                    ComponentState::BlockedOnSend
                } else if queued.contains(&id) {
                    ComponentState::Runnable
                } else {
                    ComponentState::Waiting
                },
            });
            // Declared boxes in declaration order (a dormant one has no links and no
            // traffic), then the boxes added at run time.
            let added = entry
                .adaptive
                .as_ref()
                .map(|r| r.added())
                .unwrap_or_default();
            let listed = entry
                .declared_boxes()
                .into_iter()
                .chain(added.iter().map(Declared::Made));
            for declared in listed {
                let b = match declared {
                    Declared::Made(b) => b,
                    Declared::Dormant(d) => {
                        topology.boxes.push(BoxInfo {
                            component: id,
                            name: d.spec.name.to_string(),
                            doc: d.spec.doc.to_string(),
                            direction: d.direction,
                            item_type: d.type_name.to_string(),
                            counters: crate::erased::BoxCounters {
                                capacity: crate::inbox::DEFAULT_CAPACITY,
                                ..Default::default()
                            },
                        });
                        continue;
                    }
                };
                topology.boxes.push(BoxInfo {
                    component: id,
                    name: b.name().to_string(),
                    doc: b.doc().to_string(),
                    direction: b.direction(),
                    item_type: b.type_name().to_string(),
                    counters: b.handle.counters(),
                });
                if let Some(view) = b.handle.link_view() {
                    let to_name = view
                        .to_owner
                        .and_then(|owner| table.get(owner))
                        .and_then(|e| {
                            e.all_boxes()
                                .iter()
                                .find(|d| d.has_meta(view.to_meta))
                                .map(|d| d.name().to_string())
                        })
                        .unwrap_or_else(|| "?".into());
                    topology.links.push(LinkInfo::new(id, b, view, &to_name));
                }
                if let Some(cross) = b.handle.cross_view() {
                    topology.cross_links.push(crate::topology::CrossLinkInfo {
                        from: crate::topology::BoxAddress {
                            component: Some(id),
                            box_name: b.name().to_string(),
                        },
                        link: cross.id,
                        to_core: cross.core,
                        ingress: cross.ingress,
                        counters: cross.counters,
                    });
                }
            }
        }
        topology
    }
}
