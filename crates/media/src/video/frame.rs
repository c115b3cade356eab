//! One picture in I420 (planar 4:2:0: full-size Y, then quarter-size U and V), the format
//! cameras are converted to and VP8 codes.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct I420Frame {
    pub width: u32,
    pub height: u32,
    /// Y (width × height), then U and V (each ⌈width/2⌉ × ⌈height/2⌉), rows without padding.
    pub data: Vec<u8>,
}

impl I420Frame {
    /// A black frame.
    pub fn new(width: u32, height: u32) -> Self {
        let mut data = vec![0u8; Self::size(width, height)];
        let y = (width * height) as usize;
        data[..y].fill(16);
        data[y..].fill(128);
        Self {
            width,
            height,
            data,
        }
    }

    /// Bytes in a frame of this size.
    pub fn size(width: u32, height: u32) -> usize {
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        (width * height + 2 * cw * ch) as usize
    }

    pub fn chroma_size(&self) -> (u32, u32) {
        (self.width.div_ceil(2), self.height.div_ceil(2))
    }

    /// The luma plane.
    pub fn y(&self) -> &[u8] {
        &self.data[..(self.width * self.height) as usize]
    }

    pub fn y_mut(&mut self) -> &mut [u8] {
        let n = (self.width * self.height) as usize;
        &mut self.data[..n]
    }

    /// The two chroma planes.
    pub fn uv_mut(&mut self) -> (&mut [u8], &mut [u8]) {
        let n = (self.width * self.height) as usize;
        let (cw, ch) = self.chroma_size();
        let c = (cw * ch) as usize;
        let (u, v) = self.data[n..].split_at_mut(c);
        (u, v)
    }
}

impl I420Frame {
    /// Appends the picture as I420 (Y, then U and V), taking every `step`-th pixel of every
    /// `step`-th row: a frame of `width / step` × `height / step`, for a web view that converts
    /// the colours itself (a WebGL shader). At step 1 it is the frame's own bytes.
    pub fn append_i420(&self, step: u32, out: &mut Vec<u8>) {
        let step = step.max(1);
        if step == 1 {
            out.extend_from_slice(&self.data);
            return;
        }
        let (w, h) = (self.width / step, self.height / step);
        let plane = |data: &[u8], stride: u32, rows: u32, cols: u32, out: &mut Vec<u8>| {
            for r in 0..rows {
                let row = (r * step * stride) as usize;
                out.extend(
                    (0..cols).map(|c| data.get(row + (c * step) as usize).copied().unwrap_or(128)),
                );
            }
        };
        let (cw, _) = self.chroma_size();
        let y_len = (self.width * self.height) as usize;
        let c_len = (self.data.len() - y_len) / 2;
        let (u, v) = self.data[y_len..].split_at(c_len);
        plane(&self.data[..y_len], self.width, h, w, out);
        for c in [u, v] {
            plane(c, cw, h.div_ceil(2), w.div_ceil(2), out);
        }
    }

    /// Appends the picture as RGBA (BT.601 limited range, in integers), taking every
    /// `step`-th pixel of every `step`-th row: what a web view's canvas draws.
    pub fn append_rgba(&self, step: u32, out: &mut Vec<u8>) {
        let frame = self;
        let step = step.max(1);
        let (fw, fh) = (frame.width as usize, frame.height as usize);
        let (cw, _) = frame.chroma_size();
        let cw = cw as usize;
        let ys = &frame.data[..fw * fh];
        let us = &frame.data[fw * fh..];
        let chroma_len = us.len() / 2;
        let (us, vs) = us.split_at(chroma_len);
        let step = step as usize;
        for row in (0..fh).step_by(step).take(fh / step) {
            for col in (0..fw).step_by(step).take(fw / step) {
                let y = i32::from(ys[row * fw + col]) - 16;
                let ci = (row / 2) * cw + col / 2;
                let u = i32::from(us.get(ci).copied().unwrap_or(128)) - 128;
                let v = i32::from(vs.get(ci).copied().unwrap_or(128)) - 128;
                let c = 298 * y;
                let clamp = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
                out.extend_from_slice(&[
                    clamp(c + 409 * v),
                    clamp(c - 100 * u - 208 * v),
                    clamp(c + 516 * u),
                    255,
                ]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame whose every byte says where it is: Y by position, U and V by plane.
    fn numbered(w: u32, h: u32) -> I420Frame {
        let mut f = I420Frame::new(w, h);
        let y = (w * h) as usize;
        for (i, b) in f.data[..y].iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        let c = (f.data.len() - y) / 2;
        f.data[y..y + c].fill(1);
        f.data[y + c..].fill(2);
        f
    }

    #[test]
    fn i420_at_full_size_is_the_frame_itself() {
        let f = numbered(6, 4);
        let mut out = Vec::new();
        f.append_i420(1, &mut out);
        assert_eq!(out, f.data);
    }

    #[test]
    fn i420_at_half_size_takes_every_other_pixel_and_row() {
        let f = numbered(8, 4);
        let mut out = Vec::new();
        f.append_i420(2, &mut out);
        // 4×2 luma, then 2×1 of each chroma plane.
        assert_eq!(out.len(), I420Frame::size(4, 2));
        assert_eq!(&out[..8], &[0, 2, 4, 6, 16, 18, 20, 22]);
        assert_eq!(&out[8..], &[1, 1, 2, 2]);
    }
}
