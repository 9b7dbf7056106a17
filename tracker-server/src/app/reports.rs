//! Reports handed over as files: the same download for the API and the web pages.

use crate::{reports::statistics, Result};
use axum::{
    http::header,
    response::{IntoResponse, Response},
};
use chrono::NaiveDate;

/// A file for the caller to save (CSV or PDF).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    pub content_type: &'static str,
    pub filename: String,
    pub body: Vec<u8>,
}

impl IntoResponse for Download {
    fn into_response(self) -> Response {
        (
            [
                (header::CONTENT_TYPE, self.content_type.to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{}\"", self.filename),
                ),
            ],
            self.body,
        )
            .into_response()
    }
}

/// One section of the statistics as a CSV download.
pub fn statistics_csv(
    st: &statistics::Stats,
    section: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Download> {
    Ok(Download {
        content_type: "text/csv; charset=utf-8",
        filename: format!("statistics-{section}-{from}-{to}.csv"),
        body: statistics::section_csv(st, section)?.into(),
    })
}
