//! A write session on the state branch: every write is one commit on the tip last fetched or
//! pushed; when another writer moved first, the tip is fetched again (still the same history,
//! still carrying our lease, or no live lease of another apply) and the edit re-applied, up to
//! [`CAS_ATTEMPTS`] times.

use anyhow::{Result, anyhow, bail};

use super::branch::{Pushed, Tip};
use super::lease::Lease;
use super::{CAS_ATTEMPTS, GitStore};
use crate::state::format::Lock;
use crate::state::store::{Holder, Session};

/// Write access to the state branch: the tip as last fetched or pushed, and our lease.
pub(super) struct GitSession {
    pub(super) store: GitStore,
    pub(super) tip: Option<Tip>,
    pub(super) lease: Option<Lease>,
    pub(super) holder: Holder,
}

impl GitSession {
    /// Fetches again after a rejected push. The branch must still exist and, while we hold a
    /// lease, still carry ours: a cleared or taken-over lease stops every further write. Without
    /// a lease of our own (`state resolve`, `state forget`), the fetched tip must carry no live
    /// lease either, the same test `open` makes: the writer that moved first may be an apply
    /// that just wrote `sending`, and re-applying the edit on its tip could settle the record
    /// of a push still in flight (a `--not-sent` would then let the unit be sent twice).
    fn refresh(&mut self) -> Result<()> {
        let Some(tip) = self.store.fetch()? else {
            bail!(
                "{} was deleted while pushform was writing to it; nothing more is written. \
                 Restore it (or `pushform state push` a copy) before the next run",
                self.store.place()
            );
        };
        self.same_history(&tip)?;
        if self.lease.is_none()
            && let Some(other) = &tip.lease
            && other.is_live()
        {
            return Err(self.store.held(other, None).context(
                "the state moved while this command was writing and an apply now holds the \
                 lease; nothing was written",
            ));
        }
        if let Some(ours) = &self.lease
            && tip.lease.as_ref().map(|l| &l.id) != Some(&ours.id)
        {
            let now = match &tip.lease {
                Some(other) => format!("it is now held by {}", other.describe()),
                None => "it was cleared (`pushform state unlock`)".to_owned(),
            };
            bail!(
                "this apply lost its lease {} on {}: {now}; it stops writing",
                ours.id,
                self.store.place()
            );
        }
        self.tip = Some(tip);
        Ok(())
    }

    /// A fetched tip must continue the history this session read: a branch deleted and made
    /// again (`state init`) is another history, and a run adopting it mid-way would plan on
    /// its empty record and send everything again.
    fn same_history(&self, fetched: &Tip) -> Result<()> {
        if let Some(ours) = &self.tip
            && ours.lock.lineage != fetched.lock.lineage
        {
            bail!(
                "{} now holds another history (lineage {}) than the one this run read (lineage \
                 {}): it was deleted and created again meanwhile. Nothing more is written; check \
                 which history is the real one before the next run",
                self.store.place(),
                fetched.lock.lineage,
                ours.lock.lineage
            );
        }
        Ok(())
    }

    fn moved_too_often(&self) -> anyhow::Error {
        anyhow!(
            "{} kept moving under pushform ({CAS_ATTEMPTS} attempts): other writers are busy; \
             nothing was written, try again",
            self.store.place()
        )
    }
}

impl Session for GitSession {
    fn current(&self) -> Option<&Lock> {
        self.tip.as_ref().map(|t| &t.lock)
    }

    fn create(&mut self, mut lock: Lock, message: &str) -> Result<()> {
        if let Some(tip) = &self.tip {
            bail!(
                "{} already holds a state (lineage {}, serial {}, {} records)",
                self.store.place(),
                tip.lock.lineage,
                tip.lock.serial,
                tip.lock.sends.len()
            );
        }
        lock.serial = lock.serial.max(1);
        match self.store.push(None, &lock, None, message)? {
            Pushed::Done(commit) => {
                self.tip = Some(Tip {
                    commit,
                    lock,
                    lease: None,
                });
                Ok(())
            }
            Pushed::Moved => bail!(
                "{} was created by someone else meanwhile; nothing was written",
                self.store.place()
            ),
        }
    }

    fn commit(
        &mut self,
        message: &str,
        edit: &mut dyn FnMut(&mut Lock) -> Result<bool>,
    ) -> Result<bool> {
        for _ in 0..CAS_ATTEMPTS {
            let Some(tip) = &self.tip else {
                return Err(crate::state::no_state(&self.store.place()));
            };
            let mut next = tip.lock.clone();
            if !edit(&mut next)? {
                return Ok(false);
            }
            next.serial = next
                .serial
                .checked_add(1)
                .ok_or_else(|| anyhow!("the state serial cannot go past {}", next.serial))?;
            let lease = match &self.lease {
                Some(ours) => Some(ours.renewed()),
                None => tip.lease.clone(),
            };
            match self
                .store
                .push(Some(&tip.commit), &next, lease.as_ref(), message)?
            {
                Pushed::Done(commit) => {
                    if let Some(l) = &lease
                        && self.lease.is_some()
                    {
                        self.lease = Some(l.clone());
                    }
                    self.tip = Some(Tip {
                        commit,
                        lock: next,
                        lease,
                    });
                    return Ok(true);
                }
                Pushed::Moved => self.refresh()?,
            }
        }
        Err(self.moved_too_often())
    }

    fn lease(&mut self) -> Result<()> {
        if self.lease.is_some() {
            return Ok(());
        }
        let ours = Lease::new(&self.holder);
        for _ in 0..CAS_ATTEMPTS {
            let Some(tip) = &self.tip else {
                return Err(crate::state::no_state(&self.store.place()));
            };
            if let Some(other) = &tip.lease
                && other.is_live()
            {
                return Err(self.store.held(other, None));
            }
            let message = format!(
                "pushform: lease {} taken by pid {} on {}",
                ours.id, ours.pid, ours.host
            );
            match self
                .store
                .push(Some(&tip.commit), &tip.lock, Some(&ours), &message)?
            {
                Pushed::Done(commit) => {
                    let lock = tip.lock.clone();
                    self.tip = Some(Tip {
                        commit,
                        lock,
                        lease: Some(ours.clone()),
                    });
                    self.lease = Some(ours);
                    return Ok(());
                }
                Pushed::Moved => {
                    let fetched = self
                        .store
                        .fetch()?
                        .ok_or_else(|| anyhow!("{} was deleted meanwhile", self.store.place()))?;
                    self.same_history(&fetched)?;
                    self.tip = Some(fetched);
                }
            }
        }
        Err(self.moved_too_often())
    }

    fn release(&mut self) -> Result<()> {
        let Some(ours) = self.lease.clone() else {
            return Ok(());
        };
        self.release_lease(&ours).map_err(|e| {
            anyhow!(
                "the lease {id} on {} could not be released ({e:#}); it expires at {}, or clear \
                 it with `pushform state unlock {id} --force`",
                self.store.place(),
                ours.expires,
                id = ours.id
            )
        })
    }
}

impl GitSession {
    fn release_lease(&mut self, ours: &Lease) -> Result<()> {
        for _ in 0..CAS_ATTEMPTS {
            let Some(tip) = &self.tip else {
                return Ok(());
            };
            if tip.lease.as_ref().map(|l| &l.id) != Some(&ours.id) {
                self.lease = None;
                return Ok(());
            }
            let message = format!("pushform: lease {} released", ours.id);
            match self
                .store
                .push(Some(&tip.commit), &tip.lock, None, &message)?
            {
                Pushed::Done(commit) => {
                    let lock = tip.lock.clone();
                    self.tip = Some(Tip {
                        commit,
                        lock,
                        lease: None,
                    });
                    self.lease = None;
                    return Ok(());
                }
                Pushed::Moved => {
                    self.tip = self.store.fetch()?;
                }
            }
        }
        Err(self.moved_too_often())
    }
}
