//! Ogg Opus files (RFC 7845 in RFC 3533's pages): the recording's mix, small enough to send
//! and playable almost anywhere (browsers, phones, VLC). An Ogg page is a 27-byte header, a
//! table of segment lengths and a CRC, so it is written here rather than through a crate.

use std::io::{self, Read, Write};

use crate::recording::RecordingError;

const RATE: u32 = 48_000;
/// 20-ms packets: what players expect, and Opus's best quality per bit for music.
const FRAME: usize = 960;
/// About a second of packets a page: a player seeks by pages, and a crash loses at most the
/// page being filled.
const PACKETS_PER_PAGE: usize = 50;
const MAX_PACKET: usize = 1_500;

const BOS: u8 = 0x02;
const EOS: u8 = 0x04;

/// Writes mono audio as an Ogg Opus stream.
pub struct OggOpusWriter<W: Write> {
    out: W,
    enc: opus::Encoder,
    serial: u32,
    sequence: u32,
    pre_skip: u16,
    /// Samples given, for the end of the stream (the last packet is padded).
    samples_in: u64,
    /// Samples of the packets written, pre-skip included: the granule position.
    granule: u64,
    pending: Vec<f32>,
    packets: Vec<Vec<u8>>,
}

fn opus_error(e: opus::Error) -> RecordingError {
    RecordingError::Io(io::Error::other(format!("the Opus encoder: {e}")))
}

impl<W: Write> OggOpusWriter<W> {
    /// A stream at `bitrate` bits a second, its title in the tags.
    pub fn create(mut out: W, title: &str, bitrate: i32) -> Result<Self, RecordingError> {
        let mut enc = opus::Encoder::new(RATE, opus::Channels::Mono, opus::Application::Audio)
            .map_err(opus_error)?;
        enc.set_bitrate(opus::Bitrate::Bits(bitrate))
            .map_err(opus_error)?;
        let pre_skip = enc.get_lookahead().map_err(opus_error)?.clamp(0, 65_535) as u16;
        // Any number will do as long as it is the stream's own; the time makes files differ.
        let serial = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x7475_7474, |d| d.subsec_nanos() ^ d.as_secs() as u32);
        let mut head = Vec::with_capacity(19);
        head.extend_from_slice(b"OpusHead");
        head.push(1); // version
        head.push(1); // channels
        head.extend_from_slice(&pre_skip.to_le_bytes());
        head.extend_from_slice(&RATE.to_le_bytes());
        head.extend_from_slice(&0i16.to_le_bytes()); // output gain
        head.push(0); // mapping family: mono or stereo, no table
        let vendor = concat!("Tutti ", env!("CARGO_PKG_VERSION"));
        let comment = format!("TITLE={title}");
        let mut tags = Vec::new();
        tags.extend_from_slice(b"OpusTags");
        tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
        tags.extend_from_slice(vendor.as_bytes());
        tags.extend_from_slice(&1u32.to_le_bytes());
        tags.extend_from_slice(&(comment.len() as u32).to_le_bytes());
        tags.extend_from_slice(comment.as_bytes());
        write_page(&mut out, BOS, 0, serial, 0, &[&head])?;
        write_page(&mut out, 0, 0, serial, 1, &[&tags])?;
        Ok(Self {
            out,
            enc,
            serial,
            sequence: 2,
            pre_skip,
            samples_in: 0,
            granule: 0,
            pending: Vec::with_capacity(FRAME),
            packets: Vec::new(),
        })
    }

    pub fn write(&mut self, mono: &[f32]) -> Result<(), RecordingError> {
        self.samples_in += mono.len() as u64;
        let mut rest = mono;
        while !rest.is_empty() {
            let take = (FRAME - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == FRAME {
                self.encode_pending()?;
            }
        }
        Ok(())
    }

    fn encode_pending(&mut self) -> Result<(), RecordingError> {
        let mut packet = vec![0u8; MAX_PACKET];
        let n = self
            .enc
            .encode_float(&self.pending, &mut packet)
            .map_err(opus_error)?;
        packet.truncate(n);
        self.pending.clear();
        self.packets.push(packet);
        self.granule += FRAME as u64;
        if self.packets.len() >= PACKETS_PER_PAGE {
            self.flush_page(0, self.granule)?;
        }
        Ok(())
    }

    fn flush_page(&mut self, flags: u8, granule: u64) -> Result<(), RecordingError> {
        let packets: Vec<&[u8]> = self.packets.iter().map(Vec::as_slice).collect();
        write_page(
            &mut self.out,
            flags,
            granule,
            self.serial,
            self.sequence,
            &packets,
        )?;
        self.sequence += 1;
        self.packets.clear();
        Ok(())
    }

    /// Pads the last packet, writes the end of the stream (its granule position trims the
    /// padding away) and hands the writer back.
    pub fn finish(mut self) -> Result<W, RecordingError> {
        // Enough to decode every sample given past the encoder's look-ahead.
        let end = u64::from(self.pre_skip) + self.samples_in;
        while self.granule < end || !self.pending.is_empty() {
            let pad = FRAME - self.pending.len();
            self.pending.extend(std::iter::repeat_n(0.0, pad));
            self.encode_pending()?;
        }
        self.flush_page(EOS, end)?;
        self.out.flush().map_err(RecordingError::from_io)?;
        Ok(self.out)
    }
}

/// One Ogg page holding `packets` whole (each under 255 × 255 bytes; at most 255 segments in
/// all, which 50 packets of a few hundred bytes keep well under).
fn write_page(
    out: &mut impl Write,
    flags: u8,
    granule: u64,
    serial: u32,
    sequence: u32,
    packets: &[&[u8]],
) -> Result<(), RecordingError> {
    let mut segments = Vec::new();
    for p in packets {
        segments.extend(std::iter::repeat_n(255u8, p.len() / 255));
        segments.push((p.len() % 255) as u8);
    }
    if segments.len() > 255 {
        return Err(RecordingError::Io(io::Error::other(
            "an Ogg page with more than 255 segments",
        )));
    }
    let mut page =
        Vec::with_capacity(27 + segments.len() + packets.iter().map(|p| p.len()).sum::<usize>());
    page.extend_from_slice(b"OggS");
    page.push(0); // version
    page.push(flags);
    page.extend_from_slice(&granule.to_le_bytes());
    page.extend_from_slice(&serial.to_le_bytes());
    page.extend_from_slice(&sequence.to_le_bytes());
    page.extend_from_slice(&[0; 4]); // the CRC, computed over the page with this zero
    page.push(segments.len() as u8);
    page.extend_from_slice(&segments);
    for p in packets {
        page.extend_from_slice(p);
    }
    let crc = crc32(&page);
    page[22..26].copy_from_slice(&crc.to_le_bytes());
    out.write_all(&page).map_err(RecordingError::from_io)
}

/// Ogg's CRC-32: polynomial 0x04c11db7, not reflected, starting from 0, no final XOR.
fn crc32(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut r = (i as u32) << 24;
            for _ in 0..8 {
                r = if r & 0x8000_0000 != 0 {
                    (r << 1) ^ 0x04c1_1db7
                } else {
                    r << 1
                };
            }
            *e = r;
        }
        t
    });
    data.iter().fold(0u32, |crc, &b| {
        (crc << 8) ^ table[((crc >> 24) as u8 ^ b) as usize]
    })
}

/// What went wrong reading an Ogg Opus file.
#[derive(Debug, thiserror::Error)]
pub enum OggOpusError {
    #[error("reading the file: {0}")]
    Io(#[from] io::Error),
    #[error("not an Ogg Opus file: {0}")]
    Format(&'static str),
    #[error("page {0} is damaged (its checksum does not match)")]
    Checksum(u32),
    #[error("the Opus decoder: {0}")]
    Decode(String),
}

/// A whole Ogg Opus stream of one or two channels, decoded to mono at 48 kHz: the pre-skip
/// dropped and the end trimmed as the last granule position says. Every page's checksum is
/// checked.
pub fn read_ogg_opus(mut input: impl Read) -> Result<Vec<f32>, OggOpusError> {
    let mut data = Vec::new();
    input.read_to_end(&mut data)?;
    let mut packets: Vec<Vec<u8>> = Vec::new();
    let mut partial: Vec<u8> = Vec::new();
    let mut last_granule = 0u64;
    let mut at = 0usize;
    let mut pages = 0u32;
    while at < data.len() {
        let header = data
            .get(at..at + 27)
            .ok_or(OggOpusError::Format("a page cut short"))?;
        if &header[..4] != b"OggS" {
            return Err(OggOpusError::Format("no page where one should start"));
        }
        let count = usize::from(header[26]);
        let table = data
            .get(at + 27..at + 27 + count)
            .ok_or(OggOpusError::Format("a page cut short"))?;
        let body_len: usize = table.iter().map(|&s| usize::from(s)).sum();
        let end = at + 27 + count + body_len;
        let mut page = data
            .get(at..end)
            .ok_or(OggOpusError::Format("a page cut short"))?
            .to_vec();
        let said = u32::from_le_bytes([page[22], page[23], page[24], page[25]]);
        page[22..26].fill(0);
        if crc32(&page) != said {
            return Err(OggOpusError::Checksum(pages));
        }
        let granule = u64::from_le_bytes(header[6..14].try_into().unwrap_or([0; 8]));
        let mut body = at + 27 + count;
        for &s in table {
            partial.extend_from_slice(&data[body..body + usize::from(s)]);
            body += usize::from(s);
            if s < 255 {
                packets.push(std::mem::take(&mut partial));
            }
        }
        if granule != u64::MAX {
            last_granule = granule;
        }
        pages += 1;
        at = end;
    }
    let head = packets
        .first()
        .filter(|p| p.len() >= 19 && p.starts_with(b"OpusHead"))
        .ok_or(OggOpusError::Format("no OpusHead"))?;
    let channels = match head[9] {
        1 => opus::Channels::Mono,
        2 => opus::Channels::Stereo,
        _ => return Err(OggOpusError::Format("more than two channels")),
    };
    let pre_skip = usize::from(u16::from_le_bytes([head[10], head[11]]));
    if !packets.get(1).is_some_and(|p| p.starts_with(b"OpusTags")) {
        return Err(OggOpusError::Format("no OpusTags"));
    }
    let width = if channels == opus::Channels::Mono {
        1
    } else {
        2
    };
    let mut dec =
        opus::Decoder::new(RATE, channels).map_err(|e| OggOpusError::Decode(e.to_string()))?;
    let mut out = Vec::new();
    let mut buf = vec![0f32; 5_760 * width];
    for p in &packets[2..] {
        let n = dec
            .decode_float(p, &mut buf, false)
            .map_err(|e| OggOpusError::Decode(e.to_string()))?;
        out.extend(
            buf[..n * width]
                .chunks_exact(width)
                .map(|f| f.iter().sum::<f32>() / width as f32),
        );
    }
    let end = usize::try_from(last_granule)
        .unwrap_or(usize::MAX)
        .min(out.len());
    Ok(out
        .get(pre_skip..end)
        .map(<[f32]>::to_vec)
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn tone(freq: f64, seconds: f64) -> Vec<f32> {
        (0..(seconds * f64::from(RATE)) as usize)
            .map(|i| (0.5 * (2.0 * std::f64::consts::PI * freq * i as f64 / 48_000.0).sin()) as f32)
            .collect()
    }

    #[test]
    fn the_crc_is_ogg_s() {
        // The checksum of "OggS" with Ogg's parameters (no reflection, no final XOR).
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0x89a1_897f);
    }

    #[test]
    fn a_tone_comes_back_at_its_length_and_pitch() {
        // An odd length (not whole packets), written in odd pieces.
        let x = tone(440.0, 2.345);
        let mut w = OggOpusWriter::create(Vec::new(), "lesson", 96_000).unwrap();
        for piece in x.chunks(1_234) {
            w.write(piece).unwrap();
        }
        let file = w.finish().unwrap();
        let y = read_ogg_opus(&file[..]).unwrap();
        assert_eq!(y.len(), x.len());
        // Sample for sample after the codec: aligned (a shift would leave a large error).
        let err: f64 = x[4_800..]
            .iter()
            .zip(&y[4_800..])
            .map(|(a, b)| f64::from(a - b).powi(2))
            .sum::<f64>()
            / x.len() as f64;
        let power: f64 = x.iter().map(|a| f64::from(*a).powi(2)).sum::<f64>() / x.len() as f64;
        let snr = 10.0 * (power / err).log10();
        assert!(snr > 20.0, "{snr:.1} dB");
        // About 96 kbit/s.
        let kbps = file.len() as f64 * 8.0 / 2.345 / 1e3;
        assert!((60.0..130.0).contains(&kbps), "{kbps:.0} kbit/s");
    }

    #[test]
    fn a_damaged_page_is_found() {
        let mut w = OggOpusWriter::create(Vec::new(), "t", 64_000).unwrap();
        w.write(&tone(220.0, 1.0)).unwrap();
        let mut file = w.finish().unwrap();
        let mid = file.len() / 2;
        file[mid] ^= 0x10;
        assert!(matches!(
            read_ogg_opus(&file[..]),
            Err(OggOpusError::Checksum(_))
        ));
        assert!(matches!(
            read_ogg_opus(&b"RIFF...."[..]),
            Err(OggOpusError::Format(_))
        ));
    }
}
