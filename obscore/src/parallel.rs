//! Turning a stream of items into output with every core: the stream is read on the
//! calling thread (it may hold a database connection) and cut into chunks, worker
//! threads encode the chunks, and a writer thread takes the outputs in stream order,
//! so the result is the same whatever the number of workers.

use std::collections::BTreeMap;
use std::sync::{mpsc, Arc, Mutex};

use crate::ObsCoreError;
use valet_registry::RegistryError;

/// Items per unit of work handed to a worker.
pub(crate) const CHUNK_ROWS: usize = 8_192;

/// Feed what `search` finds, in chunks, to workers running `encode`, and their
/// outputs, reordered, to `write`. The first failure stops the search and is returned.
pub(crate) fn in_parallel<T: Send, O: Send>(
    search: impl FnOnce(&mut dyn FnMut(T) -> Result<bool, RegistryError>) -> Result<(), RegistryError>,
    encode: &(dyn Fn(&[T]) -> Result<O, ObsCoreError> + Sync),
    write: &mut (dyn FnMut(O) -> Result<(), ObsCoreError> + Send),
) -> Result<u64, ObsCoreError> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    std::thread::scope(|scope| {
        let (chunk_tx, chunk_rx) = mpsc::sync_channel::<(usize, Vec<T>)>(workers * 2);
        // Shared by the workers and dropped with the last of them, so that the search
        // stops (its sends fail) once no worker is left to take chunks.
        let chunk_rx = Arc::new(Mutex::new(chunk_rx));
        let (out_tx, out_rx) = mpsc::sync_channel::<(usize, Result<O, ObsCoreError>)>(workers * 2);
        for _ in 0..workers {
            let rx = Arc::clone(&chunk_rx);
            let tx = out_tx.clone();
            scope.spawn(move || loop {
                let next = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                let Ok((seq, chunk)) = next else { break };
                let failed = {
                    let out = encode(&chunk);
                    let failed = out.is_err();
                    if tx.send((seq, out)).is_err() {
                        break;
                    }
                    failed
                };
                if failed {
                    break;
                }
            });
        }
        drop((chunk_rx, out_tx));
        let writer = scope.spawn(move || -> Result<(), ObsCoreError> {
            let mut waiting = BTreeMap::new();
            let mut next = 0;
            for (seq, out) in out_rx {
                waiting.insert(seq, out);
                while let Some(out) = waiting.remove(&next) {
                    write(out?)?;
                    next += 1;
                }
            }
            Ok(())
        });

        let mut rows = 0u64;
        let mut seq = 0;
        let mut chunk = Vec::with_capacity(CHUNK_ROWS);
        let send = |chunk: Vec<T>, seq: &mut usize| -> bool {
            let sent = chunk_tx.send((*seq, chunk)).is_ok();
            *seq += 1;
            sent
        };
        let searched = search(&mut |found| {
            chunk.push(found);
            if chunk.len() < CHUNK_ROWS {
                return Ok(true);
            }
            rows += chunk.len() as u64;
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_ROWS));
            Ok(send(full, &mut seq))
        });
        if searched.is_ok() && !chunk.is_empty() {
            rows += chunk.len() as u64;
            send(chunk, &mut seq);
        }
        drop(chunk_tx);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(ObsCoreError::Invalid("writer thread failed".into())));
        written?;
        searched?;
        Ok(rows)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;
    use valet_collections::Found;
    use valet_registry::DatasetRef;

    fn found(i: u128) -> Found {
        Found {
            dataset: DatasetRef {
                id: Uuid::from_u128(i),
                dataset_type: "calexp".into(),
                run: "run".into(),
                data_id: Default::default(),
            },
            collection: "run".into(),
        }
    }

    /// Search results numbered from 0 until the sink says stop or `total` is reached;
    /// returns how many were offered.
    fn numbered(
        total: u128,
        offered: &mut u128,
    ) -> impl FnOnce(&mut dyn FnMut(Found) -> Result<bool, RegistryError>) -> Result<(), RegistryError>
           + '_ {
        move |sink| {
            while *offered < total {
                *offered += 1;
                if !sink(found(*offered - 1))? {
                    break;
                }
            }
            Ok(())
        }
    }

    #[test]
    fn outputs_arrive_in_search_order() {
        let total = (CHUNK_ROWS * 9 + 17) as u128;
        let encode = |chunk: &[Found]| -> Result<Vec<u128>, ObsCoreError> {
            // Uneven work, so that workers finish out of order.
            if (chunk[0].dataset.id.as_u128() / CHUNK_ROWS as u128).is_multiple_of(3) {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Ok(chunk.iter().map(|f| f.dataset.id.as_u128()).collect())
        };
        let mut got = Vec::new();
        let mut offered = 0;
        let rows = in_parallel(numbered(total, &mut offered), &encode, &mut |ids| {
            got.extend(ids);
            Ok(())
        })
        .unwrap();
        assert_eq!(rows, total as u64);
        assert_eq!(got, (0..total).collect::<Vec<_>>());
    }

    #[test]
    fn a_failing_chunk_stops_the_search() {
        let total = (CHUNK_ROWS * 1000) as u128;
        let encode = |chunk: &[Found]| -> Result<usize, ObsCoreError> {
            if chunk[0].dataset.id.as_u128() == (CHUNK_ROWS * 2) as u128 {
                return Err(ObsCoreError::Invalid("bad record in chunk 2".into()));
            }
            Ok(chunk.len())
        };
        let mut written = 0;
        let mut offered = 0;
        let result = in_parallel(numbered(total, &mut offered), &encode, &mut |n| {
            written += n;
            Ok(())
        });
        let err = result.unwrap_err().to_string();
        assert!(err.contains("bad record in chunk 2"), "{err}");
        assert_eq!(
            written,
            CHUNK_ROWS * 2,
            "chunks before the failure are written"
        );
        assert!(offered < total / 10, "the search went on to {offered}");
    }

    #[test]
    fn a_failing_write_stops_the_search() {
        let total = (CHUNK_ROWS * 1000) as u128;
        let encode = |chunk: &[Found]| -> Result<usize, ObsCoreError> { Ok(chunk.len()) };
        let mut offered = 0;
        let result = in_parallel(numbered(total, &mut offered), &encode, &mut |_| {
            Err(ObsCoreError::Invalid("disk full".into()))
        });
        assert!(result.unwrap_err().to_string().contains("disk full"));
        assert!(offered < total / 10, "the search went on to {offered}");
    }
}
