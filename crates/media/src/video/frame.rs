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
