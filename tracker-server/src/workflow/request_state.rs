//! The request state machine: the states and urgencies of a request for notes, and what a
//! scan of a requested folder does to a request in each state ([`after_scan`]). Pure: the
//! workflow in [`super::requests`] reads the request, asks this module, and writes the answer.
//!
//! ```text
//! requested -> located -> pulled -> dispatched -> received -> returned
//!     any open state -> cancelled (by a person)
//! ```

crate::vocabulary! {
    /// How soon the notes are needed; each has its own target time (`[requests]` in the
    /// configuration).
    pub enum Urgency {
        Emergency = "emergency",
        Urgent = "urgent",
        Routine = "routine",
    }
}

crate::vocabulary! {
    /// Where a request stands (see the module documentation for how scans move it).
    pub enum RequestState {
        Requested = "requested",
        Located = "located",
        Pulled = "pulled",
        Dispatched = "dispatched",
        Received = "received",
        Returned = "returned",
        Cancelled = "cancelled",
    }
}

impl Urgency {
    /// The urgency in words, for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::Emergency => "Emergency",
            Self::Urgent => "Urgent",
            Self::Routine => "Routine",
        }
    }
}

impl RequestState {
    /// The state in words, for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::Requested => "Requested",
            Self::Located => "Located",
            Self::Pulled => "Pulled",
            Self::Dispatched => "On its way",
            Self::Received => "Received",
            Self::Returned => "Returned",
            Self::Cancelled => "Cancelled",
        }
    }

    /// A request in this state is closed for good.
    pub fn closes(self) -> bool {
        match self {
            Self::Returned | Self::Cancelled => true,
            Self::Requested | Self::Located | Self::Pulled | Self::Dispatched | Self::Received => {
                false
            }
        }
    }

    /// The notes have not reached the destination yet (so the request can become overdue).
    pub fn awaiting_delivery(self) -> bool {
        match self {
            Self::Requested | Self::Located | Self::Pulled | Self::Dispatched => true,
            Self::Received | Self::Returned | Self::Cancelled => false,
        }
    }
}

/// Where a scan of a requested folder happened, as far as that request is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanAt {
    /// Dispatched towards the request's destination.
    DispatchToDestination,
    /// Dispatched somewhere else.
    DispatchElsewhere,
    /// Seen or received at the destination.
    AtDestination,
    /// Seen or received in the library (or a store or shelf).
    InLibrary,
    /// Seen or received anywhere else.
    Elsewhere,
}

/// Where the notes must be fetched from after a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HolderFrom {
    /// Nowhere in particular (the request is on its way or done).
    Nobody,
    /// Where the scan was.
    ScanPlace,
    /// Where the folder was dispatched to.
    DispatchTarget,
}

/// The request state machine for scans: what a scan at `at` does to a request in `state`
/// (the new state, where the notes are held, and the history note), or nothing.
pub fn after_scan(
    state: RequestState,
    at: ScanAt,
) -> Option<(RequestState, HolderFrom, &'static str)> {
    use RequestState as S;
    use ScanAt as A;
    match (at, state) {
        // closed requests never move
        (_, S::Returned | S::Cancelled) => None,
        (A::DispatchToDestination, S::Dispatched | S::Received) => None,
        (A::DispatchToDestination, S::Requested | S::Located | S::Pulled) => Some((
            S::Dispatched,
            HolderFrom::Nobody,
            "dispatched to the destination",
        )),
        (A::DispatchElsewhere, S::Received) => None,
        (A::DispatchElsewhere, S::Requested | S::Located | S::Pulled | S::Dispatched) => Some((
            S::Located,
            HolderFrom::DispatchTarget,
            "dispatched elsewhere; fetch it from there",
        )),
        (A::AtDestination, S::Received) => None,
        (A::AtDestination, S::Requested | S::Located | S::Pulled | S::Dispatched) => Some((
            S::Received,
            HolderFrom::Nobody,
            "received at the destination",
        )),
        (A::InLibrary, S::Received) => {
            Some((S::Returned, HolderFrom::Nobody, "back in the library"))
        }
        (A::InLibrary, S::Pulled) => None,
        (A::InLibrary, S::Requested | S::Located | S::Dispatched) => {
            Some((S::Pulled, HolderFrom::Nobody, "scanned in the library"))
        }
        (A::Elsewhere, S::Received) => None,
        (A::Elsewhere, S::Requested | S::Located | S::Pulled | S::Dispatched) => Some((
            S::Located,
            HolderFrom::ScanPlace,
            "seen away from the library and the destination",
        )),
    }
}

/// Why a request whose clinic has passed is closed, in words (its close reason).
pub const CLINIC_PASSED: &str = "clinic has passed";

/// What the stale-request sweep does to an open request whose clinic session has ended: notes
/// never sent (requested, located, pulled) are no longer needed there, so the request is
/// cancelled ("clinic has passed"); notes on their way or delivered are left to their scans
/// (they come back to the library as usual), and closed requests never move.
pub fn after_clinic_passed(state: RequestState) -> Option<(RequestState, &'static str)> {
    use RequestState as S;
    match state {
        S::Requested | S::Located | S::Pulled => Some((S::Cancelled, CLINIC_PASSED)),
        S::Dispatched | S::Received | S::Returned | S::Cancelled => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_move_requests_through_their_states() {
        use RequestState as S;
        use ScanAt as A;
        // the usual journey: pulled in the library, dispatched, received, back
        let mut s = S::Requested;
        for (at, want) in [
            (A::InLibrary, S::Pulled),
            (A::DispatchToDestination, S::Dispatched),
            (A::AtDestination, S::Received),
            (A::InLibrary, S::Returned),
        ] {
            s = after_scan(s, at).expect("a step").0;
            assert_eq!(s, want);
        }
        assert!(s.closes());
        // closed requests never move, whatever is scanned
        for at in [
            A::DispatchToDestination,
            A::DispatchElsewhere,
            A::AtDestination,
            A::InLibrary,
            A::Elsewhere,
        ] {
            assert_eq!(after_scan(S::Returned, at), None);
            assert_eq!(after_scan(S::Cancelled, at), None);
        }
        // seen on another ward: located there; sent elsewhere: located where it went
        assert_eq!(
            after_scan(S::Requested, A::Elsewhere).unwrap().1,
            HolderFrom::ScanPlace
        );
        assert_eq!(
            after_scan(S::Pulled, A::DispatchElsewhere).unwrap().1,
            HolderFrom::DispatchTarget
        );
        // once received, only the return to the library moves it
        assert_eq!(after_scan(S::Received, A::Elsewhere), None);
        assert_eq!(after_scan(S::Received, A::DispatchElsewhere), None);
        // a second library scan of a pulled folder changes nothing
        assert_eq!(after_scan(S::Pulled, A::InLibrary), None);
    }

    #[test]
    fn a_passed_clinic_cancels_only_notes_never_sent() {
        use RequestState as S;
        for st in [S::Requested, S::Located, S::Pulled] {
            assert_eq!(after_clinic_passed(st), Some((S::Cancelled, CLINIC_PASSED)));
        }
        for st in [S::Dispatched, S::Received, S::Returned, S::Cancelled] {
            assert_eq!(after_clinic_passed(st), None);
        }
    }
}
