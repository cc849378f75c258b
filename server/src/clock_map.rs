//! A hash map with CLOCK (second-chance) eviction: an approximation of least-recently-used
//! that needs no write access on a hit.
//!
//! Entries live in a slot array that a "hand" sweeps. A hit only sets the entry's reference
//! bit (an atomic, so `get` takes `&self` and works under a read lock); eviction clears set
//! bits as the hand passes and takes the first entry whose bit was already clear, i.e. one not
//! used since the hand last went by. Exact LRU would have to reorder a list on every hit,
//! which means a write lock on the hottest path of the server.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};

struct Slot<K, V> {
    key: K,
    value: V,
    referenced: AtomicBool,
}

pub struct ClockMap<K, V> {
    index: HashMap<K, usize>,
    slots: Vec<Option<Slot<K, V>>>,
    /// Empty slots, reused before the array grows: the array never holds more slots than the
    /// map held entries at its fullest.
    free: Vec<usize>,
    hand: usize,
}

impl<K: Hash + Eq + Clone, V> Default for ClockMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Hash + Eq + Clone, V> ClockMap<K, V> {
    pub fn new() -> Self {
        ClockMap {
            index: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            hand: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Looks up and marks the entry used. Takes `&self`: callers may hold only a read lock.
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let slot = self.slots.get(*self.index.get(key)?)?.as_ref()?;
        // Load first: a hot entry's bit is already set, and skipping the store keeps its
        // cache line shared between the cores reading it.
        if !slot.referenced.load(Ordering::Relaxed) {
            slot.referenced.store(true, Ordering::Relaxed);
        }
        Some(&slot.value)
    }

    /// Looks up for modification and marks the entry used.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let slot = self.slots.get_mut(*self.index.get(key)?)?.as_mut()?;
        *slot.referenced.get_mut() = true;
        Some(&mut slot.value)
    }

    /// Inserts or replaces; returns the replaced value. A replaced entry is marked used; a new
    /// one is not, so a stream of entries read once cannot push out entries read again and
    /// again (with new entries marked, CLOCK degrades to FIFO). Once the map is full a new
    /// entry takes the slot just freed, right behind the hand: it has a whole revolution to be
    /// used before the hand reaches it.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        if let Some(slot) = self
            .index
            .get(&key)
            .and_then(|&i| self.slots.get_mut(i))
            .and_then(Option::as_mut)
        {
            *slot.referenced.get_mut() = true;
            return Some(std::mem::replace(&mut slot.value, value));
        }
        let slot = Some(Slot {
            key: key.clone(),
            value,
            referenced: AtomicBool::new(false),
        });
        let i = match self.free.pop() {
            Some(i) if i < self.slots.len() => {
                self.slots[i] = slot;
                i
            }
            _ => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
        };
        self.index.insert(key, i);
        None
    }

    /// Inserts, first evicting one entry if the map already holds `cap` entries and `key` is
    /// new, so the map never exceeds `cap` (at least 1). Returns the evicted entry, so the
    /// caller can drop it after releasing its lock.
    pub fn insert_capped(&mut self, key: K, value: V, cap: usize) -> Option<(K, V)> {
        let evicted = if !self.index.contains_key(&key) && self.len() >= cap.max(1) {
            // A second pass finds an entry: the first cleared every mark it passed.
            self.evict_one(|_| false, false)
                .or_else(|| self.evict_one(|_| false, false))
        } else {
            None
        };
        self.insert(key, value);
        evicted
    }

    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let i = self.index.remove(key)?;
        let slot = self.slots.get_mut(i)?.take()?;
        self.free.push(i);
        Some(slot.value)
    }

    /// Evicts the first entry from the hand on that was not used since the hand last passed
    /// it, clearing the marks it passes, and skipping entries `keep` protects; looks at each
    /// slot at most once. `None` when every entry was marked or protected: the marks are then
    /// cleared, so the next call finds a victim unless the entries are used again meanwhile.
    /// With `ignore_marks` the first unprotected entry goes, used or not.
    pub fn evict_one(&mut self, keep: impl Fn(&K) -> bool, ignore_marks: bool) -> Option<(K, V)> {
        let n = self.slots.len();
        if self.index.is_empty() {
            return None;
        }
        for _ in 0..n {
            let i = self.hand % n;
            self.hand = (i + 1) % n;
            let Some(slot) = self.slots[i].as_mut() else {
                continue;
            };
            if keep(&slot.key) {
                continue;
            }
            if std::mem::replace(slot.referenced.get_mut(), false) && !ignore_marks {
                continue;
            }
            let slot = self.slots[i].take()?;
            self.index.remove(&slot.key);
            self.free.push(i);
            return Some((slot.key, slot.value));
        }
        None
    }

    pub fn clear(&mut self) {
        self.index = HashMap::new();
        self.slots = Vec::new();
        self.free = Vec::new();
        self.hand = 0;
    }

    /// Every entry, in slot order (for accounting checks).
    pub fn values(&self) -> impl Iterator<Item = (&K, &V)> {
        self.slots.iter().flatten().map(|s| (&s.key, &s.value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_entry_not_used_since_the_hand_passed() {
        let mut m: ClockMap<String, u32> = ClockMap::new();
        for (k, v) in [("a", 1), ("b", 2), ("c", 3)] {
            assert!(m.insert(k.to_string(), v).is_none());
        }
        // None is marked yet: the hand takes the first.
        assert_eq!(m.evict_one(|_| false, false), Some(("a".to_string(), 1)));
        // b and c are now unmarked; touching b saves it, so c goes next.
        assert_eq!(m.get("b"), Some(&2));
        assert_eq!(m.evict_one(|_| false, false), Some(("c".to_string(), 3)));
        assert_eq!(m.len(), 1);
        assert_eq!(m.get("a"), None);
        assert_eq!(m.get("c"), None);
        assert_eq!(m.get("b"), Some(&2));
    }

    #[test]
    fn protected_entries_are_skipped_and_slots_are_reused() {
        let mut m: ClockMap<String, u32> = ClockMap::new();
        m.insert("a".into(), 1);
        m.insert("b".into(), 2);
        assert_eq!(m.evict_one(|k| k == "a", false), Some(("b".to_string(), 2)));
        assert_eq!(
            m.evict_one(|k| k == "a", false),
            None,
            "only the protected entry is left"
        );
        assert_eq!(
            m.evict_one(|k| k == "a", true),
            None,
            "protection holds when forced"
        );
        m.get("a");
        assert_eq!(m.evict_one(|_| false, false), None, "marked: spared once");
        m.get("a");
        assert_eq!(m.evict_one(|_| false, true), Some(("a".to_string(), 1)));
        m.insert("a".into(), 1);
        assert_eq!(m.remove("a"), Some(1));
        assert!(m.is_empty());
        assert_eq!(m.evict_one(|_| false, false), None);
        m.insert("c".into(), 3);
        m.insert("d".into(), 4);
        assert_eq!(m.slots.len(), 2, "freed slots are reused");
        assert_eq!(m.get("c"), Some(&3));
        assert_eq!(m.get("d"), Some(&4));
    }

    #[test]
    fn insert_capped_never_exceeds_the_cap_and_replacing_does_not_evict() {
        let mut m: ClockMap<u32, u32> = ClockMap::new();
        let mut evicted = Vec::new();
        for i in 0..10 {
            evicted.extend(m.insert_capped(i, i * 10, 4));
            assert!(m.len() <= 4);
        }
        assert_eq!(m.len(), 4);
        assert_eq!(evicted.len(), 6);
        let (&k, _) = m.values().next().unwrap();
        assert!(
            m.insert_capped(k, 99, 4).is_none(),
            "replacing needs no room"
        );
        assert_eq!(m.get(&k), Some(&99));
        assert_eq!(m.len(), 4);
        // Every evicted key is gone; every kept key still maps to its own value.
        for (k, v) in &evicted {
            assert_eq!(*v, k * 10);
            assert!(m.get(k).is_none());
        }
    }

    #[test]
    fn a_hot_entry_survives_a_stream_of_cold_ones() {
        let mut m: ClockMap<u32, ()> = ClockMap::new();
        m.insert(0, ());
        for i in 1..1000 {
            assert!(m.get(&0).is_some(), "hot entry evicted before insert {i}");
            m.insert_capped(i, (), 8);
        }
        assert!(m.get(&0).is_some());
        assert_eq!(m.len(), 8);
    }
}
