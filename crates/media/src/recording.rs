//! Recording a lesson: one WAV file per track (32-bit float, our samples as they are: lossless),
//! every track on one timeline. A track starts where its participant arrived; a dropout or a
//! rebuilt link is silence of exactly its length, so tracks stay aligned through reconnects
//! (SonoBus stops a track after a reconnect, sonosaurus/sonobus#268).
//!
//! Sans-IO in all but the writer it is given: [`TrackWriter`] places each chunk by its timeline
//! sample, writes the header's sizes again every second of audio (a recorder killed mid-take
//! leaves a file that plays to within a second of the kill), and [`repair`] sets a killed
//! file's sizes from what it holds.

use crate::format::SAMPLE_RATE;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// The header: RIFF, `fmt ` (IEEE float, 18 bytes), `fact`, `data`.
pub const HEADER_LEN: u64 = 58;
const BYTES_PER_SAMPLE: u64 = 4;
/// For a part whose every sample comes once (ours, as captured): a chunk this close to where
/// the track stands is written on from there, so that a late wake-up stamping a chunk is not a
/// click. Further off is a gap or an overlap.
pub const SLACK_CONTIGUOUS: i64 = SAMPLE_RATE as i64 / 50;
/// For a part placed sample for sample by its sender's clock (a remote one): only rounding is
/// absorbed; a frame the jitter buffer stood in with is an overlap (dropped), one it dropped a
/// gap.
pub const SLACK_EXACT: i64 = SAMPLE_RATE as i64 / 1_000;
/// The header is brought up to date at least this often (samples of audio).
const HEADER_EVERY: u64 = SAMPLE_RATE as u64;

#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("the disk is full: the recording stopped, and what was recorded is kept")]
    DiskFull,
    #[error("the recording could not be written: {0}")]
    Io(#[from] io::Error),
    #[error("not a recording of ours")]
    NotOurs,
    #[error("the lesson is already being recorded")]
    AlreadyRecording,
}

impl RecordingError {
    pub(crate) fn from_io(e: io::Error) -> Self {
        if is_disk_full(&e) {
            Self::DiskFull
        } else {
            Self::Io(e)
        }
    }
}

/// A write failed because the disk is full (ENOSPC, whichever way the platform says it).
pub fn is_disk_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull || e.raw_os_error() == Some(28)
}

/// One track being written.
pub struct TrackWriter<W: Write + Seek> {
    out: W,
    /// The timeline sample of the file's first.
    start: i64,
    /// Samples in the file.
    written: u64,
    header_at: u64,
}

fn header(samples: u64) -> [u8; HEADER_LEN as usize] {
    let data = (samples * BYTES_PER_SAMPLE).min(u64::from(u32::MAX) - HEADER_LEN) as u32;
    let mut h = [0u8; HEADER_LEN as usize];
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        h[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    put(b"RIFF");
    put(&(data + HEADER_LEN as u32 - 8).to_le_bytes());
    put(b"WAVE");
    put(b"fmt ");
    put(&18u32.to_le_bytes());
    put(&3u16.to_le_bytes()); // IEEE float
    put(&1u16.to_le_bytes()); // mono
    put(&SAMPLE_RATE.to_le_bytes());
    put(&(SAMPLE_RATE * BYTES_PER_SAMPLE as u32).to_le_bytes());
    put(&(BYTES_PER_SAMPLE as u16).to_le_bytes());
    put(&32u16.to_le_bytes());
    put(&0u16.to_le_bytes());
    put(b"fact");
    put(&4u32.to_le_bytes());
    put(&(data / BYTES_PER_SAMPLE as u32).to_le_bytes());
    put(b"data");
    put(&data.to_le_bytes());
    h
}

impl<W: Write + Seek> TrackWriter<W> {
    /// A track whose first sample is at timeline sample `start`.
    pub fn create(mut out: W, start: i64) -> Result<Self, RecordingError> {
        out.write_all(&header(0)).map_err(RecordingError::from_io)?;
        Ok(Self {
            out,
            start,
            written: 0,
            header_at: 0,
        })
    }

    /// The timeline sample one past the last written.
    pub fn end(&self) -> i64 {
        self.start + self.written as i64
    }

    /// Places mono `samples` at timeline sample `at`: within `slack` of the end, right after
    /// what is there; later, after silence filling the gap; what falls on what is already
    /// written is dropped.
    pub fn write_at(&mut self, at: i64, samples: &[f32], slack: i64) -> Result<(), RecordingError> {
        let end = self.end();
        let skip = if (at - end).abs() <= slack {
            0
        } else if at > end {
            self.silence((at - end) as u64)?;
            0
        } else {
            (end - at) as usize
        };
        let Some(rest) = samples.get(skip..) else {
            return Ok(());
        };
        let mut bytes = Vec::with_capacity(rest.len() * 4);
        for s in rest {
            bytes.extend_from_slice(&s.to_le_bytes());
        }
        self.out
            .write_all(&bytes)
            .map_err(RecordingError::from_io)?;
        self.written += rest.len() as u64;
        self.keep_header()
    }

    fn silence(&mut self, n: u64) -> Result<(), RecordingError> {
        let zeros = [0u8; 4096];
        let mut left = n * BYTES_PER_SAMPLE;
        while left > 0 {
            let k = left.min(zeros.len() as u64) as usize;
            self.out
                .write_all(&zeros[..k])
                .map_err(RecordingError::from_io)?;
            left -= k as u64;
        }
        self.written += n;
        Ok(())
    }

    fn keep_header(&mut self) -> Result<(), RecordingError> {
        if self.written >= self.header_at + HEADER_EVERY {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes out what is buffered and the header's sizes as they stand.
    pub fn flush(&mut self) -> Result<(), RecordingError> {
        let io = |e| RecordingError::from_io(e);
        self.out.flush().map_err(io)?;
        self.out.seek(SeekFrom::Start(0)).map_err(io)?;
        self.out.write_all(&header(self.written)).map_err(io)?;
        self.out.seek(SeekFrom::End(0)).map_err(io)?;
        self.out.flush().map_err(io)?;
        self.header_at = self.written;
        Ok(())
    }

    /// Finishes the file: the header's sizes are the file's.
    pub fn finish(mut self) -> Result<W, RecordingError> {
        self.flush()?;
        Ok(self.out)
    }

    /// Samples in the file.
    pub fn len(&self) -> u64 {
        self.written
    }

    pub fn is_empty(&self) -> bool {
        self.written == 0
    }
}

/// A track left by a recorder that was killed: sets its header's sizes from what the file
/// holds (a partial last sample dropped). Returns the samples it holds, and whether it needed
/// it.
pub fn repair(path: &Path) -> Result<(u64, bool), RecordingError> {
    use std::io::Read;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let mut h = [0u8; HEADER_LEN as usize];
    f.read_exact(&mut h).map_err(|_| RecordingError::NotOurs)?;
    if &h[0..4] != b"RIFF" || &h[8..12] != b"WAVE" || &h[50..54] != b"data" {
        return Err(RecordingError::NotOurs);
    }
    let len = f.metadata()?.len();
    let samples = (len - HEADER_LEN) / BYTES_PER_SAMPLE;
    let said = u64::from(u32::from_le_bytes([h[54], h[55], h[56], h[57]])) / BYTES_PER_SAMPLE;
    if said == samples && len == HEADER_LEN + samples * BYTES_PER_SAMPLE {
        return Ok((samples, false));
    }
    f.set_len(HEADER_LEN + samples * BYTES_PER_SAMPLE)?;
    f.seek(SeekFrom::Start(0))?;
    f.write_all(&header(samples))?;
    f.sync_all()?;
    Ok((samples, true))
}

/// Repairs every track under `dir` (recordings, one folder each) that a killed recorder left;
/// returns how many needed it. What is not ours is left alone.
pub fn repair_all(dir: &Path) -> usize {
    let Ok(folders) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut repaired = 0;
    for folder in folders.flatten() {
        let Ok(files) = std::fs::read_dir(folder.path()) else {
            continue;
        };
        for f in files.flatten() {
            let path = f.path();
            if path.extension().is_some_and(|e| e == "wav") {
                match repair(&path) {
                    Ok((_, true)) => repaired += 1,
                    Ok(_) => {}
                    Err(e) => tracing::debug!(path = %path.display(), error = %e, "not repaired"),
                }
            }
        }
    }
    repaired
}

/// Reads a track back (ours: mono float), for tests and checks.
pub fn read_track(path: &Path) -> Result<Vec<f32>, RecordingError> {
    let mut r = TrackReader::open(path)?;
    let mut out = vec![0.0; r.len()];
    let n = r.read(&mut out)?;
    out.truncate(n);
    Ok(out)
}

/// A participant's name made safe for a file name: no path separators or characters some
/// file systems refuse, no leading dot (a hidden file); `track` when nothing is left.
pub fn file_stem(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_control() || "/\\:*?\"<>|".contains(c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    let safe = safe.trim().trim_start_matches('.');
    if safe.is_empty() { "track" } else { safe }.to_owned()
}

/// A track read a block at a time (a mix of an hour's take needs no hour in memory), as far as
/// its header says.
pub struct TrackReader {
    file: std::io::BufReader<std::fs::File>,
    len: usize,
    left: usize,
}

impl TrackReader {
    pub fn open(path: &Path) -> Result<Self, RecordingError> {
        let mut file = std::io::BufReader::new(std::fs::File::open(path)?);
        let mut header = [0u8; HEADER_LEN as usize];
        if file.read_exact(&mut header).is_err()
            || &header[0..4] != b"RIFF"
            || &header[50..54] != b"data"
        {
            return Err(RecordingError::NotOurs);
        }
        let said = u32::from_le_bytes([header[54], header[55], header[56], header[57]]) as usize;
        let len = said / BYTES_PER_SAMPLE as usize;
        Ok(Self {
            file,
            len,
            left: len,
        })
    }

    /// Samples the header says the track holds.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Fills `out` from where the last read ended; returns how many it read (fewer at the end
    /// of the track, or of a file cut shorter than its header says).
    pub fn read(&mut self, out: &mut [f32]) -> Result<usize, RecordingError> {
        let want = out.len().min(self.left);
        let mut bytes = vec![0u8; want * BYTES_PER_SAMPLE as usize];
        let mut got = 0;
        while got < bytes.len() {
            match self.file.read(&mut bytes[got..])? {
                0 => break,
                n => got += n,
            }
        }
        let n = got / BYTES_PER_SAMPLE as usize;
        for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
            *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        self.left = if n < want { 0 } else { self.left - n };
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn names_become_safe_file_names() {
        assert_eq!(file_stem("김선생"), "김선생");
        assert_eq!(file_stem("../etc/passwd"), "_etc_passwd");
        assert_eq!(file_stem("a:b*c?"), "a_b_c_");
        assert_eq!(file_stem(" .hidden "), "hidden");
        assert_eq!(file_stem("  "), "track");
    }

    fn samples(bytes: &[u8]) -> Vec<f32> {
        bytes[HEADER_LEN as usize..]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }

    #[test]
    fn a_gap_is_silence_of_its_length_and_a_wobble_is_not_a_gap() {
        let mut t = TrackWriter::create(Cursor::new(Vec::new()), 1_000).unwrap();
        let s = SLACK_CONTIGUOUS;
        t.write_at(1_000, &[0.1; 100], s).unwrap();
        // 3 ms late (a late wake-up stamped it): written on, no gap.
        t.write_at(1_244, &[0.2; 100], s).unwrap();
        assert_eq!(t.end(), 1_200);
        // 3 ms early: the same.
        t.write_at(1_056, &[0.3; 100], s).unwrap();
        assert_eq!(t.end(), 1_300);
        // A 5-s dropout: silence of exactly its length.
        t.write_at(1_300 + 240_000, &[0.4; 100], s).unwrap();
        assert_eq!(t.end(), 241_400);
        // Half of a chunk on what is written: the rest goes on.
        t.write_at(241_400 - 1_500, &[0.5; 2_000], s).unwrap();
        assert_eq!(t.end(), 241_900);
        // Placed exactly: a frame stood in for (the same place again) is dropped, one missing
        // is a gap, rounding is absorbed.
        let e = SLACK_EXACT;
        t.write_at(241_900 - 240, &[0.9; 240], e).unwrap();
        assert_eq!(t.end(), 241_900);
        t.write_at(241_900 + 240, &[0.6; 240], e).unwrap();
        assert_eq!(t.end(), 242_380);
        t.write_at(242_380 + 1, &[0.7; 20], e).unwrap();
        assert_eq!(t.end(), 242_400);
        let bytes = t.finish().unwrap().into_inner();
        let s = samples(&bytes);
        assert_eq!(s.len(), 241_400);
        assert!(s[240_900..241_140].iter().all(|v| *v == 0.0));
        assert_eq!(s[241_140], 0.6);
        assert_eq!(s[241_380], 0.7);
        assert_eq!(s[0], 0.1);
        assert_eq!(s[150], 0.2);
        assert_eq!(s[250], 0.3);
        assert!(s[300..240_300].iter().all(|v| *v == 0.0));
        assert_eq!(s[240_300], 0.4);
        assert_eq!(s[240_400], 0.5);
        assert_eq!(s[240_899], 0.5);
        // The header says what the file holds.
        assert_eq!(&bytes[0..4], b"RIFF");
        assert_eq!(
            u32::from_le_bytes(bytes[54..58].try_into().unwrap()) as usize,
            241_400 * 4
        );
        assert_eq!(
            u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize,
            bytes.len() - 8
        );
    }

    /// A recorder killed mid-take: the header is at most a second behind, and `repair` makes
    /// it whole (a partial sample at the end dropped).
    #[test]
    fn a_killed_take_plays_to_within_a_second_and_is_repaired() {
        let dir = std::env::temp_dir().join(format!("tutti-rec-{}", std::process::id()));
        let take = dir.join("take");
        std::fs::create_dir_all(&take).unwrap();
        let path = take.join("killed.wav");
        let file = std::fs::File::create(&path).unwrap();
        let mut t = TrackWriter::create(std::io::BufWriter::new(file), 0).unwrap();
        for k in 0..250 {
            t.write_at(k * 480, &[0.25; 480], SLACK_EXACT).unwrap();
        }
        // Killed: no finish, and what the process still buffered is lost.
        std::mem::forget(t);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(&[1, 2]).unwrap(); // half a sample
        drop(f);
        let said = read_track(&path).unwrap().len();
        assert!(120_000 - said <= 48_000, "{said} samples said of 120 000");
        let (held, repaired) = repair(&path).unwrap();
        assert!(repaired);
        // All but the writer's buffer (8 KiB).
        assert!(
            held as usize >= said && 120_000 - held <= 2_048,
            "{held} held"
        );
        let s = read_track(&path).unwrap();
        assert_eq!(s.len() as u64, held);
        assert!(s.iter().all(|v| *v == 0.25));
        assert_eq!(repair(&path).unwrap(), (held, false));
        // On the next start, everything under the recordings' folder is looked at.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(&[0; 8]).unwrap();
        drop(f);
        assert_eq!(repair_all(&dir), 1);
        assert_eq!(read_track(&path).unwrap().len() as u64, held + 2);
        std::fs::write(dir.join("other.wav"), b"not a wav at all, just text").unwrap();
        assert!(matches!(
            repair(&dir.join("other.wav")),
            Err(RecordingError::NotOurs)
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A full disk is said as such, and what was written stays.
    #[test]
    fn a_full_disk_is_said_as_such() {
        struct Full(Cursor<Vec<u8>>, usize);
        impl Write for Full {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                if self.0.get_ref().len() + b.len() > self.1 {
                    return Err(io::Error::from(io::ErrorKind::StorageFull));
                }
                self.0.write(b)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        impl Seek for Full {
            fn seek(&mut self, p: SeekFrom) -> io::Result<u64> {
                self.0.seek(p)
            }
        }
        let mut t = TrackWriter::create(Full(Cursor::new(Vec::new()), 4_058), 0).unwrap();
        t.write_at(0, &[0.5; 1_000], SLACK_EXACT).unwrap();
        assert!(matches!(
            t.write_at(1_000, &[0.5; 10], SLACK_EXACT),
            Err(RecordingError::DiskFull)
        ));
        assert_eq!(t.len(), 1_000);
    }
}
