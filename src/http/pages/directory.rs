//! Names for ids: pages show "Lynas Rare Earths (Australia)", not `lynas`. Reads actors and
//! sites through the store once per page and remembers them for the rest of it; ids that are not
//! in the registry (a damaged state) are shown as they are.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::ledger::{ActorRecord, SiteRecord, StateView};
use crate::model::ids::{ActorId, SiteId};
use crate::store::Store;

use super::layout::{country, esc, seg};

/// One page's view of the registry.
pub struct Directory<'a> {
    store: &'a Store,
    actors: RefCell<HashMap<ActorId, Option<ActorRecord>>>,
    sites: RefCell<HashMap<SiteId, Option<SiteRecord>>>,
}

impl<'a> Directory<'a> {
    /// A directory reading `store`.
    pub fn new(store: &'a Store) -> Directory<'a> {
        Directory {
            store,
            actors: RefCell::default(),
            sites: RefCell::default(),
        }
    }

    /// The actor's record, if registered.
    pub fn actor(&self, id: &ActorId) -> Option<ActorRecord> {
        self.actors
            .borrow_mut()
            .entry(id.clone())
            .or_insert_with(|| self.store.actor(id).ok().flatten())
            .clone()
    }

    /// The site's record, if registered.
    pub fn site(&self, id: &SiteId) -> Option<SiteRecord> {
        self.sites
            .borrow_mut()
            .entry(id.clone())
            .or_insert_with(|| self.store.site(id).ok().flatten())
            .clone()
    }

    /// The actor's name (or its id).
    pub fn actor_name(&self, id: &ActorId) -> String {
        self.actor(id)
            .map_or_else(|| id.as_str().to_owned(), |a| a.name)
    }

    /// The actor's country code, if registered.
    pub fn actor_country(&self, id: &ActorId) -> Option<String> {
        self.actor(id).map(|a| a.country.as_str().to_owned())
    }

    /// A link to the actor's page, with its name and country in words.
    pub fn actor_link(&self, id: &ActorId) -> String {
        match self.actor(id) {
            Some(a) => format!(
                "<a href=\"/actors/{}\">{}</a> <span class=\"muted\">({})</span>",
                seg(id.as_str()),
                esc(&a.name),
                esc(&country(a.country.as_str()))
            ),
            None => format!("<code class=\"id\">{}</code>", esc(id.as_str())),
        }
    }

    /// A link to the site's page, with its name and country in words.
    pub fn site_link(&self, id: &SiteId) -> String {
        match self.site(id) {
            Some(s) => format!(
                "<a href=\"/sites/{}\">{}</a> <span class=\"muted\">({})</span>",
                seg(id.as_str()),
                esc(&s.name),
                esc(&country(s.country.as_str()))
            ),
            None => format!("<code class=\"id\">{}</code>", esc(id.as_str())),
        }
    }
}
