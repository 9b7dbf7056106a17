//! The records lifecycle after care: clinical coding, digitisation by a scanning bureau,
//! retention and destruction, and GP queries and subject access requests.

pub mod coding;
pub mod digitisation;
pub mod external_requests;
pub mod retention;
