//! A moving test pattern that carries its own frame number and capture time in the picture, so
//! the receiver can measure glass-to-glass delay and dropped or frozen frames with no side
//! channel. The stamp is drawn as large black and white cells (a lossy codec blurs edges but
//! keeps 16×16 blocks' brightness) with a checksum, so a misread is rejected, not believed.

use super::I420Frame;

/// What a frame says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub frame: u32,
    /// Capture time, milliseconds on the sender's monotonic clock, modulo 2^32.
    pub captured_ms: u32,
}

/// Cell size in pixels; the stamp occupies the top rows of cells.
const CELL: u32 = 16;
/// 32 bits of frame number, 32 of time, 8 of checksum.
const BITS: u32 = 72;
const WHITE: u8 = 235;
const BLACK: u8 = 16;

fn checksum(frame: u32, ms: u32) -> u8 {
    // CRC-8 (polynomial 0x07) over the eight bytes: any single misread cell changes it. It
    // starts from 0xFF so that an all-black (or all-white) strip does not check out.
    let mut crc = 0xFFu8;
    for b in frame.to_be_bytes().into_iter().chain(ms.to_be_bytes()) {
        crc ^= b;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x07
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn bits(stamp: Stamp) -> impl Iterator<Item = bool> {
    let word = (u128::from(stamp.frame) << 40)
        | (u128::from(stamp.captured_ms) << 8)
        | u128::from(checksum(stamp.frame, stamp.captured_ms));
    (0..BITS).rev().map(move |i| (word >> i) & 1 == 1)
}

/// Where cell `i` is: (column, row) in cells.
fn cell_at(i: u32, width: u32) -> (u32, u32) {
    let per_row = width / CELL;
    (i % per_row, i / per_row)
}

/// Generates frames: bars sliding sideways (so the encoder has motion to code), a square
/// bouncing, and the stamp on top.
pub struct TestPattern {
    width: u32,
    height: u32,
    frame: u32,
}

impl TestPattern {
    /// At least 320×160 (room for the stamp and the motion); sizes are rounded down to even.
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            width: width.max(320) & !1,
            height: height.max(160) & !1,
            frame: 0,
        }
    }

    /// The next frame, stamped with `captured_ms`.
    pub fn next_frame(&mut self, captured_ms: u32) -> I420Frame {
        let mut f = I420Frame::new(self.width, self.height);
        self.draw_into(&mut f, captured_ms);
        f
    }

    /// Draws the next frame into `f` (of this pattern's size), reusing its buffer.
    pub fn draw_into(&mut self, f: &mut I420Frame, captured_ms: u32) {
        let (w, h, n) = (self.width, self.height, self.frame);
        let shift = n.wrapping_mul(4);
        let stamp_rows = BITS.div_ceil(w / CELL) * CELL;
        {
            let y = f.y_mut();
            for row in 0..h {
                for col in 0..w {
                    let bar = ((col + shift) / 40) % 8;
                    y[(row * w + col) as usize] = 40 + (bar * 25) as u8;
                }
            }
            // A bouncing square.
            let span = w - 64;
            let x0 = (n * 6) % (2 * span);
            let x0 = if x0 > span { 2 * span - x0 } else { x0 };
            let y0 = stamp_rows + 8 + (n * 3) % h.saturating_sub(stamp_rows + 72).max(1);
            for row in y0..(y0 + 48).min(h) {
                for col in x0..x0 + 48 {
                    y[(row * w + col) as usize] = 220;
                }
            }
        }
        let (cw, _) = f.chroma_size();
        let (u, v) = f.uv_mut();
        for (i, (uu, vv)) in u.iter_mut().zip(v.iter_mut()).enumerate() {
            let col = i as u32 % cw;
            *uu = 128u8.wrapping_add(((col + shift / 2) % 64) as u8);
            *vv = 160;
        }
        self.draw_stamp(
            f,
            Stamp {
                frame: n,
                captured_ms,
            },
        );
        self.frame = n.wrapping_add(1);
    }

    fn draw_stamp(&self, f: &mut I420Frame, stamp: Stamp) {
        let w = self.width;
        let (cw, _) = f.chroma_size();
        for (i, bit) in bits(stamp).enumerate() {
            let (cx, cy) = cell_at(i as u32, w);
            let value = if bit { WHITE } else { BLACK };
            let y = f.y_mut();
            for row in cy * CELL..(cy + 1) * CELL {
                let start = (row * w + cx * CELL) as usize;
                y[start..start + CELL as usize].fill(value);
            }
            // Neutral colour under the stamp, so chroma does not bleed into it.
            let (u, v) = f.uv_mut();
            for row in cy * CELL / 2..(cy + 1) * CELL / 2 {
                let start = (row * cw + cx * CELL / 2) as usize;
                u[start..start + (CELL / 2) as usize].fill(128);
                v[start..start + (CELL / 2) as usize].fill(128);
            }
        }
    }
}

/// Reads the stamp back from a (possibly decoded, slightly blurred) frame; `None` if the frame
/// carries none or it does not check out.
pub fn read_stamp(f: &I420Frame) -> Option<Stamp> {
    let w = f.width;
    if w < CELL
        || BITS.div_ceil(w / CELL) * CELL > f.height
        || f.data.len() < I420Frame::size(w, f.height)
    {
        return None;
    }
    let y = f.y();
    let mut word: u128 = 0;
    for i in 0..BITS {
        let (cx, cy) = cell_at(i, w);
        // The middle of the cell: edges are where a codec smears.
        let mut sum = 0u32;
        for row in cy * CELL + 4..cy * CELL + 12 {
            for col in cx * CELL + 4..cx * CELL + 12 {
                sum += u32::from(y[(row * w + col) as usize]);
            }
        }
        let bit = sum / 64 > u32::from(BLACK + WHITE) / 2;
        word = (word << 1) | u128::from(bit);
    }
    let frame = (word >> 40) as u32;
    let captured_ms = (word >> 8) as u32;
    (checksum(frame, captured_ms) == (word & 0xFF) as u8).then_some(Stamp { frame, captured_ms })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_frame_reads_back_its_stamp() {
        let mut p = TestPattern::new(640, 480);
        for k in 0..50u32 {
            let f = p.next_frame(1_000_000 + 33 * k);
            assert_eq!(f.data.len(), I420Frame::size(640, 480));
            assert_eq!(
                read_stamp(&f),
                Some(Stamp {
                    frame: k,
                    captured_ms: 1_000_000 + 33 * k
                })
            );
        }
    }

    #[test]
    fn frames_differ_so_a_frozen_picture_shows() {
        let mut p = TestPattern::new(320, 240);
        let (a, b) = (p.next_frame(0), p.next_frame(0));
        assert_ne!(a.y(), b.y());
    }

    #[test]
    fn a_frame_without_a_stamp_or_with_a_flipped_cell_reads_as_none() {
        assert_eq!(read_stamp(&I420Frame::new(640, 480)), None);
        let mut white = I420Frame::new(640, 480);
        white.y_mut().fill(WHITE);
        assert_eq!(read_stamp(&white), None);
        let mut f = TestPattern::new(640, 480).next_frame(7);
        // Flip one cell (the 10th bit) fully.
        let (cx, cy) = cell_at(10, 640);
        let y = f.y_mut();
        for row in cy * CELL..(cy + 1) * CELL {
            for col in cx * CELL..(cx + 1) * CELL {
                let p = &mut y[(row * 640 + col) as usize];
                *p = if *p > 128 { BLACK } else { WHITE };
            }
        }
        assert_eq!(read_stamp(&f), None);
        // Too small or truncated: no panic.
        assert_eq!(
            read_stamp(&I420Frame {
                width: 640,
                height: 480,
                data: vec![0; 10]
            }),
            None
        );
    }
}
