//! Datasets' files over HTTP, streamed from disk, whole or a byte range at a time
//! (`Range: bytes=…`), so a client can resume a download or read a FITS header
//! without fetching the pixels.

use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use valet::RepoError;

use crate::api::one_dataset;
use crate::auth::{act, caller};
use crate::reply::{Failure, Reply};
use crate::stream::streamed;
use crate::Shared;

/// Bytes read from disk at a time.
const READ_BYTES: usize = 256 << 10;

/// The bytes a `Range` header asks for, first and last (inclusive), in a file of
/// `len` bytes; `Ok(None)` for the whole file (no header, or one this server does
/// not split: several ranges, another unit); `Err` when nothing of it exists.
fn requested_range(headers: &HeaderMap, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = headers
        .get(header::RANGE)
        .and_then(|r| r.to_str().ok())
        .and_then(|r| r.trim().strip_prefix("bytes="))
    else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (first, last) = (first.trim(), last.trim());
    let range = if first.is_empty() {
        // The last N bytes.
        let n: u64 = last.parse().map_err(|_| ())?;
        if n == 0 || len == 0 {
            return Err(());
        }
        (len.saturating_sub(n), len - 1)
    } else {
        let first: u64 = first.parse().map_err(|_| ())?;
        let last: u64 = if last.is_empty() {
            len.saturating_sub(1)
        } else {
            last.parse::<u64>()
                .map_err(|_| ())?
                .min(len.saturating_sub(1))
        };
        if first >= len || last < first {
            return Err(());
        }
        (first, last)
    };
    Ok(Some(range))
}

fn header_value(text: String) -> HeaderValue {
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// `GET /api/v1/datasets/{id}/file`: the dataset's file, or the byte range the
/// `Range` header asks for (206), streamed.
pub(crate) async fn dataset_file(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Reply {
    let c = caller(&s, &headers).await?;
    let r = one_dataset(&s, &c, &id).await?;
    let path = act(&s, &c, move |repo| repo.get_path(&r)).await?;
    let len = tokio::fs::metadata(&path)
        .await
        .map_err(|e| {
            Failure::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("{}: {e}", path.display()),
            )
        })?
        .len();
    let mut answer = HeaderMap::new();
    answer.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    answer.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let (status, first, count) = match requested_range(&headers, len) {
        Ok(None) => (StatusCode::OK, 0, len),
        Ok(Some((first, last))) => {
            answer.insert(
                header::CONTENT_RANGE,
                header_value(format!("bytes {first}-{last}/{len}")),
            );
            (StatusCode::PARTIAL_CONTENT, first, last - first + 1)
        }
        Err(()) => {
            return Err(Failure::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                format!(
                    "the file of dataset {id} has {len} bytes: the requested range is outside it"
                ),
            )
            .with_header(
                header::CONTENT_RANGE,
                header_value(format!("bytes */{len}")),
            ));
        }
    };
    answer.insert(header::CONTENT_LENGTH, header_value(count.to_string()));
    let permit = s.streams.acquire(&c.user, s.options.max_streams_per_user)?;
    streamed(
        &s,
        &c,
        Some(permit),
        false,
        status,
        answer,
        move |_, out| {
            let io = |e: std::io::Error| RepoError::Io {
                path: path.display().to_string(),
                source: e,
            };
            let mut file = std::fs::File::open(&path).map_err(io)?;
            file.seek(SeekFrom::Start(first)).map_err(io)?;
            let mut left = count;
            let mut buffer = vec![0u8; READ_BYTES];
            while left > 0 {
                let want = buffer
                    .len()
                    .min(usize::try_from(left).unwrap_or(usize::MAX));
                let n = file.read(&mut buffer[..want]).map_err(io)?;
                if n == 0 {
                    return Err(io(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the file is shorter than it was a moment ago",
                    )));
                }
                std::io::Write::write_all(out, &buffer[..n]).map_err(io)?;
                left -= n as u64;
            }
            Ok(())
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(spec: &str, len: u64) -> Result<Option<(u64, u64)>, ()> {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_str(spec).unwrap());
        requested_range(&headers, len)
    }

    #[test]
    fn ranges_as_http_defines_them() {
        assert_eq!(requested_range(&HeaderMap::new(), 10), Ok(None));
        assert_eq!(range("bytes=0-3", 10), Ok(Some((0, 3))));
        assert_eq!(range("bytes=4-", 10), Ok(Some((4, 9))));
        assert_eq!(range("bytes=-3", 10), Ok(Some((7, 9))));
        assert_eq!(range("bytes=-30", 10), Ok(Some((0, 9))));
        // A last byte past the end is the end.
        assert_eq!(range("bytes=5-100", 10), Ok(Some((5, 9))));
        assert_eq!(range("bytes=10-", 10), Err(()));
        assert_eq!(range("bytes=5-2", 10), Err(()));
        assert_eq!(range("bytes=-0", 10), Err(()));
        assert_eq!(range("bytes=x-3", 10), Err(()));
        // Several ranges, or another unit: the whole file.
        assert_eq!(range("bytes=0-1,4-5", 10), Ok(None));
        assert_eq!(range("pages=1-2", 10), Ok(None));
    }
}
