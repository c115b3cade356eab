//! The recorder: the audio threads hand it every part a frame at a time, wait-free, each chunk
//! with when it was played at its microphone on our clock; a thread of its own writes the
//! tracks ([`crate::recording`]), so no file is ever written on an audio thread.

use crate::clock::monotonic_ns;
use crate::duet::MAX_CHUNK;
use crate::format::SAMPLE_RATE;
use crate::link::lock;
use crate::recording::{RecordingError, SLACK_CONTIGUOUS, SLACK_EXACT, TrackWriter};
use std::collections::HashMap;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const NS_PER_SAMPLE: f64 = 1e9 / SAMPLE_RATE as f64;
/// Chunks between the audio threads and the writer: two seconds of 2.5-ms frames for a few
/// parts (a disk that stalls for longer costs the chunks that do not fit, said in the figures).
const QUEUE: usize = 4_096;
/// How often the writer looks for chunks.
const WRITE_EVERY: Duration = Duration::from_millis(20);

/// Our own part's track.
pub const OWN_TRACK: u32 = 0;

/// A clock estimate this far from the one a track was placed by moves the track (a gap or
/// an overlap of that much); less is the estimate's wobble, which must not become clicks.
const REPLACE_NS: f64 = 2e6;

/// Where a chunk goes on the timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Placed {
    /// At this instant of our clock, every sample once (ours as captured; a part as heard).
    Contiguous(f64),
    /// At this instant of its sender's clock, which reads `offset_ns` behind ours (as
    /// estimated now): a remote part, sample for sample.
    Sender { at_ns: f64, offset_ns: f64 },
}

/// A frame of one part, mono, with where its first sample goes.
pub struct Chunk {
    track: u32,
    placed: Placed,
    len: usize,
    mono: [f32; MAX_CHUNK],
}

/// One track of a recording, as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    /// Whose part: a participant's name (ours for our own).
    pub name: String,
    pub file: PathBuf,
    /// Where it starts on the recording's timeline, seconds.
    pub start_s: f64,
    pub seconds: f64,
    /// Our own part (as captured, lossless), not one received.
    pub own: bool,
}

/// What the audio threads share with a recording (none running: nothing is taken).
#[derive(Default)]
pub struct RecorderSlot {
    on: AtomicBool,
    tx: Mutex<Option<rtrb::Producer<Chunk>>>,
    /// Track names by number (0: ours), made when a stream is added, never on an audio thread.
    names: Mutex<Vec<String>>,
    /// Participants' names as people know them, by who.
    display: Mutex<HashMap<String, String>>,
    dropped: std::sync::atomic::AtomicU64,
}

impl RecorderSlot {
    /// The track number for `who`'s part (the same each time they come back).
    pub fn track_of(&self, who: &str) -> u32 {
        let mut names = lock(&self.names);
        if names.is_empty() {
            names.push(String::new()); // ours, named when a recording starts
        }
        match names.iter().skip(1).position(|n| n == who) {
            Some(i) => (i + 1) as u32,
            None => {
                names.push(who.to_owned());
                (names.len() - 1) as u32
            }
        }
    }

    /// `who` is called `name` (their track's name and file).
    pub fn name(&self, who: &str, name: &str) {
        lock(&self.display).insert(who.to_owned(), name.to_owned());
    }

    pub fn is_on(&self) -> bool {
        self.on.load(Relaxed)
    }

    /// From an audio thread: interleaved stereo (`stereo`) or mono, placed as `placed` says.
    /// Never waits; a chunk that does not fit is counted.
    pub fn push(&self, track: u32, placed: Placed, samples: &[f32], stereo: bool) {
        if !self.is_on() {
            return;
        }
        let Ok(mut tx) = self.tx.try_lock() else {
            self.dropped.fetch_add(1, Relaxed);
            return;
        };
        let Some(tx) = tx.as_mut() else { return };
        let mut chunk = Chunk {
            track,
            placed,
            len: 0,
            mono: [0.0; MAX_CHUNK],
        };
        if stereo {
            chunk.len = crate::duet::downmix(samples, &mut chunk.mono);
        } else {
            let n = samples.len().min(MAX_CHUNK);
            chunk.mono[..n].copy_from_slice(&samples[..n]);
            chunk.len = n;
        }
        if tx.push(chunk).is_err() {
            self.dropped.fetch_add(1, Relaxed);
        }
    }
}

/// How a recording ended: its tracks, or why it stopped early beside the tracks it kept.
pub type Stopped = Result<Vec<Track>, (RecordingError, Vec<Track>)>;

/// A recording running: tracks in `dir`, written by their own thread.
pub struct Recording {
    slot: Arc<RecorderSlot>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Stopped>>,
    pub started: Instant,
    pub dir: PathBuf,
}

impl Recording {
    /// Starts recording every part from now on into `dir` (made if missing), our own part
    /// under `own_name`.
    pub fn start(
        slot: Arc<RecorderSlot>,
        dir: &Path,
        own_name: &str,
    ) -> Result<Self, RecordingError> {
        std::fs::create_dir_all(dir).map_err(RecordingError::from)?;
        {
            let mut names = lock(&slot.names);
            if names.is_empty() {
                names.push(String::new());
            }
            names[0] = own_name.to_owned();
        }
        let (tx, rx) = rtrb::RingBuffer::new(QUEUE);
        *lock(&slot.tx) = Some(tx);
        let started = Instant::now();
        let t0 = monotonic_ns(started) as f64;
        let stop = Arc::new(AtomicBool::new(false));
        let writer = Writer {
            dir: dir.to_owned(),
            t0,
            tracks: HashMap::new(),
            files: Vec::new(),
            offsets: HashMap::new(),
            steady: HashMap::new(),
        };
        let thread = {
            let (slot, stop) = (slot.clone(), stop.clone());
            std::thread::Builder::new()
                .name("tutti-record".into())
                .spawn(move || writer.run(&slot, rx, &stop))
                .map_err(RecordingError::from)?
        };
        slot.on.store(true, Relaxed);
        Ok(Self {
            slot,
            stop,
            thread: Some(thread),
            started,
            dir: dir.to_owned(),
        })
    }

    /// The recording stopped by itself (a full disk, a failing write).
    pub fn has_stopped(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Chunks the writer could not keep up with.
    pub fn dropped(&self) -> u64 {
        self.slot.dropped.load(Relaxed)
    }

    /// Stops, writes out what is left, and returns the tracks; or why it stopped early, with
    /// the tracks it kept.
    pub fn stop(mut self) -> Stopped {
        self.finish()
    }

    fn finish(&mut self) -> Stopped {
        self.slot.on.store(false, Relaxed);
        self.stop.store(true, Relaxed);
        let out = match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err((
                RecordingError::Io(std::io::Error::other("the recorder failed")),
                Vec::new(),
            )),
            None => Ok(Vec::new()),
        };
        *lock(&self.slot.tx) = None;
        out
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.finish();
        }
    }
}

struct Writer {
    dir: PathBuf,
    t0: f64,
    tracks: HashMap<u32, (TrackWriter<BufWriter<std::fs::File>>, usize)>,
    /// Each track's name and file, where it starts, and whether it is ours, in the order
    /// they started.
    files: Vec<(String, PathBuf, i64, bool)>,
    /// The clock offset each remote track is placed by, held while the estimate wobbles.
    offsets: HashMap<u32, f64>,
    /// Chunks held back from each track until the ones after them say where they go.
    steady: HashMap<u32, Steady>,
}

impl Writer {
    fn run(
        mut self,
        slot: &RecorderSlot,
        mut rx: rtrb::Consumer<Chunk>,
        stop: &AtomicBool,
    ) -> Stopped {
        loop {
            let last = stop.load(Relaxed);
            while let Ok(c) = rx.pop() {
                if let Err(e) = self.write(slot, &c) {
                    tracing::warn!(error = %e, "the recording stopped");
                    slot.on.store(false, Relaxed);
                    let tracks = self.close();
                    return Err((e, tracks.unwrap_or_default()));
                }
            }
            if last {
                return self.close().map_err(|e| (e, Vec::new()));
            }
            std::thread::sleep(WRITE_EVERY);
        }
    }

    fn write(&mut self, slot: &RecorderSlot, c: &Chunk) -> Result<(), RecordingError> {
        let (at_ns, slack) = match c.placed {
            Placed::Contiguous(at) => (at, SLACK_CONTIGUOUS),
            Placed::Sender { at_ns, offset_ns } => {
                let held = self.offsets.entry(c.track).or_insert(offset_ns);
                if (offset_ns - *held).abs() > REPLACE_NS {
                    *held = offset_ns;
                }
                (at_ns + *held, SLACK_EXACT)
            }
        };
        let at = ((at_ns - self.t0) / NS_PER_SAMPLE).round() as i64;
        // From before the recording started (still queued when it did).
        let skip = usize::try_from(-at).unwrap_or(0);
        let Some(samples) = c.mono[..c.len].get(skip..).filter(|s| !s.is_empty()) else {
            return Ok(());
        };
        let at = at.max(0);
        if !self.tracks.contains_key(&c.track) {
            let who = lock(&slot.names)
                .get(c.track as usize)
                .cloned()
                .unwrap_or_else(|| format!("track {}", c.track));
            let name = lock(&slot.display).get(&who).cloned().unwrap_or(who);
            let file = self.dir.join(self.file_name(&name));
            let f = std::fs::File::create(&file).map_err(RecordingError::from_io)?;
            let w = TrackWriter::create(BufWriter::new(f), at)?;
            self.files.push((name, file, at, c.track == OWN_TRACK));
            self.tracks.insert(c.track, (w, self.files.len() - 1));
        }
        if let Some((w, _)) = self.tracks.get_mut(&c.track) {
            let steady = self.steady.entry(c.track).or_default();
            for (at, samples) in steady.place(w.end(), at, samples, slack) {
                w.write_at(at, &samples, slack)?;
            }
        }
        Ok(())
    }

    /// `name.wav`, made safe for a file name, and unique in the recording.
    fn file_name(&self, name: &str) -> String {
        let base = crate::recording::file_stem(name);
        let mut candidate = format!("{base}.wav");
        let mut k = 2;
        while self
            .files
            .iter()
            .any(|(_, f, _, _)| f.ends_with(&candidate))
        {
            candidate = format!("{base}-{k}.wav");
            k += 1;
        }
        candidate
    }

    fn close(&mut self) -> Result<Vec<Track>, RecordingError> {
        let mut first_error = None;
        let mut lengths = vec![0u64; self.files.len()];
        for (track, (mut w, i)) in self.tracks.drain() {
            for (at, samples) in self.steady.remove(&track).unwrap_or_default().drain() {
                if let Err(e) = w.write_at(at, &samples, SLACK_EXACT) {
                    first_error.get_or_insert(e);
                }
            }
            lengths[i] = w.len();
            if let Err(e) = w.finish() {
                first_error.get_or_insert(e);
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        Ok(self
            .files
            .iter()
            .zip(lengths)
            .map(|((name, file, start, own), n)| Track {
                name: name.clone(),
                file: file.clone(),
                start_s: *start as f64 / f64::from(SAMPLE_RATE),
                seconds: n as f64 / f64::from(SAMPLE_RATE),
                own: *own,
            })
            .collect())
    }
}

/// Chunks in a row, each where the one before it ends, that confirm a track's move.
const CONFIRM: usize = 3;
/// Chunks held at most while no line is clear (a stream standing still, say): then each is
/// written where it says, as it would have been.
const HOLD_AT_MOST: usize = 16;

/// A track's placement, steadied. A chunk that would move the track (a gap or an overlap) is
/// held until the chunks after it say whether the track moved: back on the line it was on, the
/// chunk was misplaced (one frame's stamp off by a frame or two, on a busy machine) and is
/// written on from where the track stands; [`CONFIRM`] chunks in a row on a new line, it
/// moved (a cut, a frame dropped), and those held before them go back to back just before
/// them, so the first frame after a cut is placed by the frames after it. Sans-IO: where
/// the track ends and a chunk in, what to write where out.
#[derive(Default)]
struct Steady {
    held: Vec<(i64, Vec<f32>)>,
}

impl Steady {
    /// Where to write what, in order, of the chunk `samples` stamped `at`, the track ending
    /// at `end` (as written).
    fn place(&mut self, end: i64, at: i64, samples: &[f32], slack: i64) -> Vec<(i64, Vec<f32>)> {
        let near = |a: i64, b: i64| (a - b).abs() <= slack;
        if self.held.is_empty() {
            if near(at, end) {
                return vec![(at, samples.to_vec())];
            }
            self.held.push((at, samples.to_vec()));
            return Vec::new();
        }
        let held_len: usize = self.held.iter().map(|(_, s)| s.len()).sum();
        if near(at, end + held_len as i64) {
            // Back on the line: what was held goes where the line has it.
            let mut out = Vec::with_capacity(self.held.len() + 1);
            let mut p = end;
            for (_, s) in self.held.drain(..) {
                let n = s.len() as i64;
                out.push((p, s));
                p += n;
            }
            out.push((p, samples.to_vec()));
            return out;
        }
        self.held.push((at, samples.to_vec()));
        let n = self.held.len();
        let run = 1
            + (1..n)
                .rev()
                .take_while(|&i| {
                    let (a, s) = &self.held[i - 1];
                    near(self.held[i].0, a + s.len() as i64)
                })
                .count();
        if run >= CONFIRM {
            let first = n - run;
            let before: usize = self.held[..first].iter().map(|(_, s)| s.len()).sum();
            let mut p = self.held[first].0 - before as i64;
            return self
                .held
                .drain(..)
                .enumerate()
                .map(|(i, (at, s))| {
                    if i < first {
                        p += s.len() as i64;
                        (p - s.len() as i64, s)
                    } else {
                        (at, s)
                    }
                })
                .collect();
        }
        if n >= HOLD_AT_MOST {
            return self.drain();
        }
        Vec::new()
    }

    /// What is held, each where it says (the recording is stopping).
    fn drain(&mut self) -> Vec<(i64, Vec<f32>)> {
        std::mem::take(&mut self.held)
    }
}

/// The mix of a recording's tracks, each placed at its start on the timeline, as one Ogg
/// Opus file (mono, 96 kbit/s): what a pupil plays back or sends on, beside the lossless
/// tracks. Read a second at a time, so that an hour's take needs no more memory than a
/// minute's. Returns its length in seconds.
pub fn mix_down(tracks: &[Track], out: &Path, title: &str) -> Result<f64, RecordingError> {
    const BLOCK: usize = SAMPLE_RATE as usize;
    let rate = f64::from(SAMPLE_RATE);
    let mut readers = Vec::new();
    let mut end = 0usize;
    for t in tracks {
        let reader = crate::recording::TrackReader::open(&t.file)?;
        let start = (t.start_s * rate).round() as usize;
        end = end.max(start + reader.len());
        readers.push((start, reader));
    }
    // Parts summed at a gain that keeps two loud ones from clipping, soft beyond.
    let gain = 1.0 / (readers.len().max(1) as f32).sqrt();
    let file = std::fs::File::create(out).map_err(RecordingError::from_io)?;
    let mut w = crate::ogg_opus::OggOpusWriter::create(BufWriter::new(file), title, 96_000)?;
    let (mut block, mut part) = (vec![0f32; BLOCK], vec![0f32; BLOCK]);
    let mut at = 0usize;
    while at < end {
        let n = BLOCK.min(end - at);
        block[..n].fill(0.0);
        for (start, reader) in &mut readers {
            let from = at.max(*start);
            let to = (at + n).min(*start + reader.len());
            if from < to {
                let got = reader.read(&mut part[..to - from])?;
                for (b, p) in block[from - at..].iter_mut().zip(&part[..got]) {
                    *b += p;
                }
            }
        }
        for v in &mut block[..n] {
            *v = (*v * gain).tanh();
        }
        w.write(&block[..n])?;
        at += n;
    }
    w.finish()?;
    Ok(end as f64 / rate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::read_track;

    /// Two parts pushed as the audio threads push them: each its own file, starting where it
    /// first came on the recording's timeline, a dropout kept as silence of its length.
    #[test]
    fn every_part_gets_its_track_on_one_timeline() {
        let dir = std::env::temp_dir().join(format!("tutti-recorder-{}", std::process::id()));
        let slot = Arc::new(RecorderSlot::default());
        let omar = slot.track_of("p-omar");
        assert_eq!(slot.track_of("p-omar"), omar);
        slot.name("p-omar", "Omar");
        let rec = Recording::start(slot.clone(), &dir, "김선생").unwrap();
        let t0 = monotonic_ns(rec.started) as f64;
        let frame = 120.0 * NS_PER_SAMPLE;
        for k in 0..400u32 {
            let at = t0 + f64::from(k) * frame;
            slot.push(OWN_TRACK, Placed::Contiguous(at), &[0.5; 240], true);
            // Omar arrives 100 ms in, and is away from 400 to 600 ms; his clock reads 5 s
            // behind ours, estimated within a millisecond, which moves nothing.
            let wobble = if k % 7 == 0 { 1.5e6 } else { 0.0 };
            let theirs = Placed::Sender {
                at_ns: at - 5e9,
                offset_ns: 5e9 + wobble,
            };
            if (40..160).contains(&k) || k >= 240 {
                slot.push(omar, theirs, &[0.25; 120], false);
            }
        }
        let tracks = rec.stop().unwrap();
        assert_eq!(tracks.len(), 2);
        assert_eq!(tracks[0].name, "김선생");
        assert!(tracks[0].own && !tracks[1].own);
        assert!(tracks[0].file.ends_with("김선생.wav"));
        assert_eq!(tracks[0].start_s, 0.0);
        assert_eq!(tracks[0].seconds, 1.0);
        assert_eq!(tracks[1].name, "Omar");
        assert_eq!(tracks[1].start_s, 0.1);
        assert!((tracks[1].seconds - 0.9).abs() < 1e-9);
        let omar = read_track(&tracks[1].file).unwrap();
        assert!(omar[..14_400].iter().all(|v| *v == 0.25));
        assert!(omar[14_400..24_000].iter().all(|v| *v == 0.0), "the gap");
        assert!(omar[24_000..].iter().all(|v| *v == 0.25));
        assert_eq!(slot.dropped.load(Relaxed), 0);
        // Nothing is taken once stopped.
        slot.push(OWN_TRACK, Placed::Contiguous(t0), &[0.5; 240], true);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Two tracks, the second starting half a second in: the mix holds both, each where
    /// its track starts, for as long as the later one ends.
    #[test]
    fn the_mix_holds_every_track_at_its_place() {
        let dir = std::env::temp_dir().join(format!("tutti-mix-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let tone = |freq: f64, n: usize| -> Vec<f32> {
            (0..n)
                .map(|i| (0.4 * (2.0 * std::f64::consts::PI * freq * i as f64 / 48e3).sin()) as f32)
                .collect()
        };
        let mut tracks = Vec::new();
        for (name, freq, start, n) in [("a", 440.0, 0.0, 48_000), ("b", 660.0, 0.5, 72_000)] {
            let file = dir.join(format!("{name}.wav"));
            let mut w =
                TrackWriter::create(BufWriter::new(std::fs::File::create(&file).unwrap()), 0)
                    .unwrap();
            w.write_at(0, &tone(freq, n), SLACK_EXACT).unwrap();
            w.finish().unwrap();
            tracks.push(Track {
                name: name.into(),
                file,
                start_s: start,
                seconds: n as f64 / 48e3,
                own: false,
            });
        }
        let out = dir.join("mix.opus");
        let seconds = mix_down(&tracks, &out, "lesson").unwrap();
        assert!((seconds - 2.0).abs() < 1e-9);
        let mix = crate::ogg_opus::read_ogg_opus(std::fs::File::open(&out).unwrap()).unwrap();
        assert_eq!(mix.len(), 96_000);
        let level = |from: usize, to: usize, freq: f64| {
            let (mut re, mut im) = (0.0, 0.0);
            for (i, v) in mix[from..to].iter().enumerate() {
                let ph = 2.0 * std::f64::consts::PI * freq * (from + i) as f64 / 48e3;
                re += f64::from(*v) * ph.cos();
                im += f64::from(*v) * ph.sin();
            }
            2.0 * (re * re + im * im).sqrt() / (to - from) as f64
        };
        // 0–0.5 s: a alone; 0.5–1 s: both; 1–2 s: b alone.
        assert!(level(4_800, 19_200, 440.0) > 0.2 && level(4_800, 19_200, 660.0) < 0.02);
        assert!(level(28_800, 43_200, 440.0) > 0.15 && level(28_800, 43_200, 660.0) > 0.15);
        assert!(level(52_800, 91_200, 440.0) < 0.02 && level(52_800, 91_200, 660.0) > 0.2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Chunks of 120 samples, the k-th holding k + 1, stamped by `stamp`, through [`Steady`] into
    /// a track: its samples.
    fn steadied(stamps: &[i64]) -> Vec<f32> {
        let mut w = TrackWriter::create(std::io::Cursor::new(Vec::new()), stamps[0]).unwrap();
        let mut steady = Steady::default();
        for (k, &at) in stamps.iter().enumerate() {
            for (at, s) in steady.place(w.end(), at, &[k as f32 + 1.0; 120], SLACK_EXACT) {
                w.write_at(at, &s, SLACK_EXACT).unwrap();
            }
        }
        for (at, s) in steady.drain() {
            w.write_at(at, &s, SLACK_EXACT).unwrap();
        }
        let bytes = w.finish().unwrap().into_inner();
        bytes[crate::recording::HEADER_LEN as usize..]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    }

    /// Which chunk each 120 samples of a track hold (-1: silence, or mixed).
    fn chunks(track: &[f32]) -> Vec<i64> {
        track
            .chunks(120)
            .map(|c| {
                if c.iter().all(|v| *v == c[0]) && c[0] != 0.0 {
                    c[0] as i64 - 1
                } else if c.iter().all(|v| *v == 0.0) {
                    -1
                } else {
                    -2
                }
            })
            .collect()
    }

    /// One frame stamped two frames late, the rest on their line: it is written where the
    /// line has it, nothing lost, no silence (written where it said, it was 5 ms late and the
    /// frame after it was lost).
    #[test]
    fn a_frame_stamped_off_its_line_is_written_on_it() {
        let mut stamps: Vec<i64> = (0..10).map(|k| 1_000 + k * 120).collect();
        stamps[5] += 240;
        let track = steadied(&stamps);
        assert_eq!(track.len(), 1_200);
        assert_eq!(chunks(&track[120..]), (1..10).collect::<Vec<_>>());
    }

    /// A real move (a frame dropped, a cut): silence of its length, every frame after it at
    /// its place; the first frame after a cut, stamped a little off, goes just before the
    /// frames after it.
    #[test]
    fn a_move_confirmed_by_the_frames_after_it_moves_the_track() {
        let mut stamps: Vec<i64> = (0..10).map(|k| 1_000 + k * 120).collect();
        for s in &mut stamps[5..] {
            *s += 240;
        }
        let track = steadied(&stamps);
        assert_eq!(track.len(), 1_440);
        assert_eq!(
            chunks(&track[120..]),
            [1, 2, 3, 4, -1, -1, 5, 6, 7, 8, 9].to_vec()
        );
        // A cut of a second; the first frame after it stamped 258 samples late.
        let mut stamps: Vec<i64> = (0..10).map(|k| 1_000 + k * 120).collect();
        for s in &mut stamps[5..] {
            *s += 48_000;
        }
        stamps[5] += 258;
        let track = steadied(&stamps);
        assert_eq!(track.len(), 1_200 + 48_000);
        assert_eq!(chunks(&track[48_600..]), [5, 6, 7, 8, 9].to_vec());
        assert!(track[600..48_600].iter().all(|v| *v == 0.0));
    }

    /// A stream standing still (the same stamp over and over, as in a cut), then going on: the
    /// frames that stood in overlap and are dropped, the rest as stamped.
    #[test]
    fn a_stream_standing_still_is_written_as_stamped() {
        let mut stamps: Vec<i64> = (0..6).map(|k| 1_000 + k * 120).collect();
        stamps.extend([1_600; 29]);
        stamps.extend((0..5).map(|k| 1_720 + k * 120));
        let track = steadied(&stamps);
        assert_eq!(track.len(), 1_320);
        assert_eq!(
            chunks(&track),
            [0, 1, 2, 3, 4, 5, 35, 36, 37, 38, 39].to_vec()
        );
    }

    #[test]
    fn file_names_are_safe_and_unique() {
        let w = Writer {
            dir: PathBuf::new(),
            t0: 0.0,
            tracks: HashMap::new(),
            files: vec![("Omar".into(), PathBuf::from("/x/Omar.wav"), 0, false)],
            offsets: HashMap::new(),
            steady: HashMap::new(),
        };
        assert_eq!(w.file_name("Omar"), "Omar-2.wav");
        assert_eq!(w.file_name("../../etc/passwd"), "_.._etc_passwd.wav");
        assert_eq!(w.file_name("  "), "track.wav");
    }
}
