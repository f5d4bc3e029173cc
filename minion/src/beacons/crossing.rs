//! The one rule every threshold beacon follows: an event when a condition
//! starts to hold (on the first evaluation too: a disk already full when
//! the minion starts is reported once), none while it keeps holding, and
//! the next one only after it stopped holding and started again.

#[derive(Debug, Default, Clone)]
pub struct Crossing {
    holds: Option<bool>,
}

/// What an evaluation changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// The condition started to hold.
    Crossed,
    /// It stopped holding (never on the first evaluation).
    Cleared,
}

impl Crossing {
    pub fn update(&mut self, holds: bool) -> Option<Edge> {
        match (self.holds.replace(holds), holds) {
            (None, true) | (Some(false), true) => Some(Edge::Crossed),
            (Some(true), false) => Some(Edge::Cleared),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_edge_per_change() {
        let mut c = Crossing::default();
        let seen: Vec<Option<Edge>> = [false, true, true, true, false, false, true]
            .into_iter()
            .map(|h| c.update(h))
            .collect();
        assert_eq!(
            seen,
            [
                None,
                Some(Edge::Crossed),
                None,
                None,
                Some(Edge::Cleared),
                None,
                Some(Edge::Crossed)
            ]
        );
        let mut c = Crossing::default();
        assert_eq!(c.update(true), Some(Edge::Crossed), "already over at start");
    }
}
