//! Opening an S3 bucket with object_store: endpoint and region from the flags or the
//! standard AWS environment, credentials from `credentials`, TLS by rustls with ring.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;

/// How to reach the store. Everything secret stays out of here: see `credentials`.
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    /// `--s3-endpoint` (an S3-compatible server); else `AWS_ENDPOINT_URL`, else AWS.
    pub endpoint: Option<String>,
    /// `--s3-region`; else `AWS_REGION`, else us-east-1.
    pub region: Option<String>,
    /// `--s3-credentials FILE`: a shared credentials file.
    pub credentials_file: Option<PathBuf>,
    /// `--cache DIR`: the local mirror (default under `~/.cache/preau/publish/`).
    pub cache: Option<PathBuf>,
    /// Most attempts when other publishers win the race (0: the default).
    pub max_attempts: u32,
}

pub fn connect(bucket: &str, opts: &S3Options) -> Result<Arc<dyn ObjectStore>> {
    // reqwest is built with rustls and no bundled provider (no aws-lc): ring it is.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
    if let Some(e) = &opts.endpoint {
        // An explicit http:// endpoint (a test server, an S3 on the local network) is the
        // operator's choice; object_store refuses plain HTTP unless told.
        b = b.with_endpoint(e).with_allow_http(e.starts_with("http://"));
    }
    if let Some(r) = &opts.region {
        b = b.with_region(r);
    }
    if let Some(c) = crate::credentials::from_file(opts.credentials_file.as_deref())? {
        b = b.with_access_key_id(c.key_id).with_secret_access_key(c.secret);
        if let Some(t) = c.token {
            b = b.with_token(t);
        }
    }
    let s3 = b.build().with_context(|| format!("ouverture du seau S3 {bucket} (opening S3 bucket {bucket})"))?;
    Ok(Arc::new(s3))
}
