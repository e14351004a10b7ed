//! Where the demo's feeds go: the feed ingest in this process, or a running server's upload
//! route, as partners send them.

use eventmall_events::PartnerId;
use eventmall_feeds::{FeedEncoding, FeedFormat, FeedIngest, FeedRunSummary};

use crate::keys::DemoKeys;

/// Where the demo's feeds go: the feed ingest in this process, or the upload route of a server.
pub trait FeedUpload: Sync {
    /// Ingests one partner's EP feed; answers the run's summary.
    fn upload(
        &self,
        partner: &PartnerId,
        encoding: FeedEncoding,
        feed: Vec<u8>,
    ) -> impl Future<Output = anyhow::Result<FeedRunSummary>> + Send;
}

impl FeedUpload for FeedIngest {
    async fn upload(
        &self,
        partner: &PartnerId,
        encoding: FeedEncoding,
        feed: Vec<u8>,
    ) -> anyhow::Result<FeedRunSummary> {
        let run = self
            .run(
                partner.clone(),
                FeedFormat::EpTsv,
                encoding,
                std::io::Cursor::new(feed),
            )
            .await?;
        Ok(run.summary)
    }
}

/// The upload route of a running server: `POST /v1/partners/{id}/feeds`.
pub struct HttpUpload {
    client: reqwest::Client,
    base_url: String,
    keys: DemoKeys,
}

impl HttpUpload {
    /// Uploads to the server at `base_url` (`http://127.0.0.1:8080`), each partner with its
    /// key of `keys`.
    pub fn new(base_url: impl Into<String>, keys: DemoKeys) -> Self {
        Self {
            client: reqwest::Client::new(),
            base_url: base_url.into(),
            keys,
        }
    }
}

impl FeedUpload for HttpUpload {
    async fn upload(
        &self,
        partner: &PartnerId,
        encoding: FeedEncoding,
        feed: Vec<u8>,
    ) -> anyhow::Result<FeedRunSummary> {
        let url = format!("{}/v1/partners/{}/feeds", self.base_url, partner.0);
        let mut request = self.client.post(&url);
        if let Some(secret) = self.keys.secret(&partner.0) {
            request = request.bearer_auth(secret);
        }
        let response = request
            .query(&[("format", FeedFormat::EpTsv.as_str())])
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("text/tab-separated-values; charset={}", encoding.as_str()),
            )
            .body(feed)
            .send()
            .await?;
        let status = response.status();
        let body = response.bytes().await?;
        anyhow::ensure!(
            status == reqwest::StatusCode::CREATED,
            "uploading {partner}'s feed: {status} {}",
            String::from_utf8_lossy(&body)
        );
        Ok(serde_json::from_slice(&body)?)
    }
}
