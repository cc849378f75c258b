//! The changefeed (`…/_trust/changefeed`, `/v2/_trust/changefeed`): publishes and deletes in
//! order, paged by change id.

use super::{ServiceError, TrustService};
use crate::store::Change;
use std::sync::Arc;

/// The query of a changefeed request, as sent.
#[derive(Debug, Default)]
pub struct ChangefeedQuery {
    pub change_id: Option<String>,
    pub records: Option<String>,
}

impl ChangefeedQuery {
    /// From a URL query string (other parameters are ignored, as the reference does).
    pub fn parse(query: Option<&str>) -> Self {
        let mut q = ChangefeedQuery::default();
        for (k, v) in crate::auth::form_pairs(query.unwrap_or("")) {
            match k.as_str() {
                "change_id" => q.change_id = Some(v),
                "records" => q.records = Some(v),
                _ => {}
            }
        }
        q
    }

    /// `(change_id, records)` as the store takes them: records 0 means 100, at most 10,000
    /// either way (more is refused: one request could otherwise read the whole feed), and
    /// negative records page backwards from `change_id`, or from the newest when it is -1.
    fn bounds(&self) -> Result<(i64, i64), ServiceError> {
        let bad = |name: &'static str, value: &str| ServiceError::InvalidParameter {
            name,
            value: value.to_string(),
        };
        let records_s = self.records.as_deref().unwrap_or("");
        let mut records: i64 = records_s
            .parse::<i32>()
            .map_err(|_| bad("records", records_s))?
            .into();
        if records == 0 {
            records = 100;
        }
        if records.abs() > 10_000 {
            return Err(bad("records", records_s));
        }
        // A 32-bit integer, as notary-server's stores parse it.
        let change_id: i64 = match self.change_id.as_deref() {
            None | Some("") => 0,
            Some(v) => v.parse::<i32>().map_err(|_| bad("change_id", v))?.into(),
        };
        // As notary-server's SQL store reads them: a negative change id pages backwards too,
        // and backwards from 0 or below starts at the newest change.
        if change_id < 0 || records < 0 {
            return Ok((if change_id <= 0 { -1 } else { change_id }, -records.abs()));
        }
        Ok((change_id, records))
    }
}

impl TrustService {
    /// One page of changes of `gun` (or of every GUN), as the JSON notary-server sends.
    pub async fn changefeed(
        self: &Arc<Self>,
        gun: Option<&str>,
        query: &ChangefeedQuery,
    ) -> Result<Vec<u8>, ServiceError> {
        let (change_id, records) = query.bounds()?;
        let (store, g) = (self.store.clone(), gun.map(str::to_string));
        let changes = self
            .blocking(move || Ok(store.changefeed(g.as_deref(), change_id, records)?))
            .await?;
        #[derive(serde::Serialize)]
        struct Page<'a> {
            count: usize,
            records: Option<&'a [Change]>,
        }
        let page = Page {
            count: changes.len(),
            records: (!changes.is_empty()).then_some(&changes[..]),
        };
        serde_json::to_vec(&page).map_err(|e| ServiceError::Internal(format!("changefeed: {e}")))
    }
}
