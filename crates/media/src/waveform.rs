//! A take's waveform for the history screen: how loud it is along its timeline, from its
//! lossless tracks (each placed at its start), read a second at a time so that an hour's take
//! needs no hour in memory.

use std::path::PathBuf;

use crate::recording::{RecordingError, TrackReader};

const RATE: f64 = crate::format::SAMPLE_RATE as f64;

/// `buckets` peaks (0–1) spread evenly over `seconds` of the take's timeline: in each, the
/// loudest sample of any track (`(file, start in seconds)`). A stretch no track covers is 0.
pub fn peaks(
    tracks: &[(PathBuf, f64)],
    seconds: f64,
    buckets: usize,
) -> Result<Vec<f32>, RecordingError> {
    let mut out = vec![0f32; buckets];
    let total = (seconds.max(0.0) * RATE).round() as usize;
    if buckets == 0 || total == 0 {
        return Ok(out);
    }
    let mut block = vec![0f32; RATE as usize];
    for (file, start_s) in tracks {
        let mut reader = TrackReader::open(file)?;
        let mut at = (start_s.max(0.0) * RATE).round() as usize;
        loop {
            let n = reader.read(&mut block)?;
            if n == 0 || at >= total {
                break;
            }
            for (i, v) in block[..n].iter().enumerate() {
                let bucket = (at + i) * buckets / total;
                if let Some(b) = out.get_mut(bucket) {
                    *b = b.max(v.abs().min(1.0));
                }
            }
            at += n;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::{SLACK_EXACT, TrackWriter};
    use std::io::BufWriter;

    fn track(dir: &std::path::Path, name: &str, samples: &[f32]) -> PathBuf {
        let file = dir.join(name);
        let mut w =
            TrackWriter::create(BufWriter::new(std::fs::File::create(&file).unwrap()), 0).unwrap();
        w.write_at(0, samples, SLACK_EXACT).unwrap();
        w.finish().unwrap();
        file
    }

    /// A loud second of one track and a quiet one of another, each where it was played.
    #[test]
    fn each_track_s_sound_shows_where_it_was_on_the_timeline() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = vec![0.0f32; 48_000 * 2];
        a[48_000..72_000].fill(-0.8);
        let b = vec![0.25f32; 48_000];
        let tracks = [
            (track(dir.path(), "a.wav", &a), 0.0),
            (track(dir.path(), "b.wav", &b), 3.0),
        ];
        let p = peaks(&tracks, 4.0, 8).unwrap();
        assert_eq!(p, [0.0, 0.0, 0.8, 0.0, 0.0, 0.0, 0.25, 0.25]);
        assert_eq!(peaks(&tracks, 0.0, 8).unwrap(), [0.0; 8]);
        assert!(matches!(
            peaks(&[(dir.path().join("none.wav"), 0.0)], 1.0, 4),
            Err(RecordingError::Io(_))
        ));
    }
}
