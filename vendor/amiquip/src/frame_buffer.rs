use crate::errors::*;
use amq_protocol::frame::{parse_frame, AMQPFrame};
use amq_protocol::protocol::constants::{FRAME_BODY, FRAME_END};
use amq_protocol::types::parsing::parse_long_uint;
use bytes::Buf;
use input_buffer::{InputBuffer, MIN_READ};
use log::trace;
use snafu::ResultExt;
use std::io;
use std::marker::PhantomData;
use std::mem::MaybeUninit;

pub struct FrameBuffer(Inner<AmqpFrameKind>);

// amqpctl patch: a frame as the frame buffer hands it over. A content body
// frame is not parsed into an owned `AMQPFrame::Body`: its payload is lent,
// straight out of the input buffer, for the content collector to copy once.
#[derive(Debug, PartialEq)]
pub enum Frame<'a> {
    Parsed(AMQPFrame),
    Body(u16, &'a [u8]),
}

impl Frame<'_> {
    pub fn into_owned(self) -> AMQPFrame {
        match self {
            Frame::Parsed(frame) => frame,
            Frame::Body(channel_id, payload) => AMQPFrame::Body(channel_id, payload.to_vec()),
        }
    }
}

impl FrameBuffer {
    pub fn new() -> FrameBuffer {
        FrameBuffer(Inner::new())
    }

    pub fn read_from<S, F>(&mut self, stream: &mut S, handler: F) -> Result<usize>
    where
        S: ReadUninit,
        F: FnMut(Frame<'_>) -> Result<()>,
    {
        self.0.read_from(stream, &mut Frames(handler))
    }

    // amqpctl patch: as `read_from`, to a handler that may also take a large
    // body frame's payload straight from the stream into its message's buffer.
    pub fn read_into<S, H>(&mut self, stream: &mut S, handler: &mut H) -> Result<usize>
    where
        S: ReadUninit,
        H: FrameHandler<AmqpFrameKind>,
    {
        self.0.read_from(stream, handler)
    }
}

/// amqpctl patch (change 16): a stream the frame buffer can read a body frame
/// from into memory not yet written (`IoStream::read_uninit`).
pub trait ReadUninit: io::Read {
    fn read_uninit(&mut self, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize>;
}

impl<S: crate::IoStream> ReadUninit for S {
    fn read_uninit(&mut self, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
        crate::IoStream::read_uninit(self, buf)
    }
}

/// amqpctl patch: what `FrameBuffer` hands frames to. Besides taking frames,
/// a handler can lend the frame buffer the buffer of the message a large
/// content body frame belongs to, for the payload to be read from the stream
/// straight into it instead of through the input buffer (one copy fewer).
pub trait FrameHandler<Kind: FrameKind> {
    /// A whole frame, parsed or lent from the input buffer.
    fn frame(&mut self, frame: Kind::Frame<'_>) -> Result<()>;

    /// The buffer of the message whose next content body frame, on
    /// `channel`, carries `len` payload bytes, if that frame may be read into
    /// it (its length is then grown by `len`); `None` to have the frame
    /// buffered and handed to `frame` as usual.
    fn lend_body(&mut self, _channel: u16, _len: usize) -> Option<Vec<u8>> {
        None
    }

    /// The lent buffer back, the frame's payload appended and its frame-end
    /// checked.
    fn body_read(&mut self, _channel: u16, _body: Vec<u8>) -> Result<()> {
        FrameUnexpectedSnafu.fail()
    }
}

// A closure taking frames is a handler that never lends a body buffer.
struct Frames<F>(F);

impl<Kind: FrameKind, F: FnMut(Kind::Frame<'_>) -> Result<()>> FrameHandler<Kind> for Frames<F> {
    fn frame(&mut self, frame: Kind::Frame<'_>) -> Result<()> {
        (self.0)(frame)
    }
}

// Dep. injection helper primarily for unit testing.
pub trait FrameKind {
    type Frame<'a>;

    // Should return None if not enough data is available to know the size of the next
    // frame, or Some(n) if the next frame requires n bytes.
    fn parse_size(buf: &[u8]) -> Option<usize>;

    // Attempt to parse a frame. Will only be called if parse_size() already returned
    // Some(n), and buf will have length exactly n.
    fn parse_frame(buf: &[u8]) -> Result<Self::Frame<'_>>;

    // amqpctl patch: the channel and payload length of the content body frame
    // `buf` starts with, once its header is in; None for any other frame.
    fn body_header(_buf: &[u8]) -> Option<(u16, usize)> {
        None
    }
}

// Standard FrameKind - parses AMQP frames.
pub enum AmqpFrameKind {}

impl AmqpFrameKind {
    // position (from start of frame) where the "size of frame" bytes are located
    const AMQP_FRAME_SIZE_POS: std::ops::Range<usize> = 3..7;
}

impl FrameKind for AmqpFrameKind {
    type Frame<'a> = Frame<'a>;

    fn parse_size(buf: &[u8]) -> Option<usize> {
        if buf.len() < Self::AMQP_FRAME_SIZE_POS.end {
            None
        } else {
            // Parsing a u32 from 4 bytes can't fail; safe to unwrap.
            let (_, size) = parse_long_uint(&buf[Self::AMQP_FRAME_SIZE_POS]).unwrap();

            // actual frame size is the extracted size + 8 bytes (7 byte header and
            // single byte frame-end
            Some(size as usize + 8)
        }
    }

    fn body_header(buf: &[u8]) -> Option<(u16, usize)> {
        if buf.len() < Self::AMQP_FRAME_SIZE_POS.end || buf[0] != FRAME_BODY {
            return None;
        }
        let channel_id = u16::from_be_bytes([buf[1], buf[2]]);
        Some((channel_id, Self::parse_size(buf)? - 8))
    }

    fn parse_frame(buf: &[u8]) -> Result<Frame<'_>> {
        // amqpctl patch: a body frame is type, channel (2 bytes, big-endian),
        // size, payload and frame-end; buf holds exactly one (size + 8 bytes).
        if buf[0] == FRAME_BODY {
            let end = buf.len() - 1;
            if buf[end] != FRAME_END {
                return MalformedFrameSnafu.fail();
            }
            let channel_id = u16::from_be_bytes([buf[1], buf[2]]);
            let payload = &buf[Self::AMQP_FRAME_SIZE_POS.end..end];
            return Ok(Frame::Body(channel_id, payload));
        }
        // parse is only successful if there were no errors _and_ it consumed
        // all of `buf` (Inner calls us with exactly the size of `buf` we said
        // we need from parse_size()).
        if let Ok((rest, frame)) = parse_frame(buf) {
            if rest.is_empty() {
                return Ok(Frame::Parsed(frame));
            }
        }
        MalformedFrameSnafu.fail()
    }
}

// amqpctl patch: a content body frame whose payload still to come is at least
// this long is read straight into its message's buffer, when the handler lends
// it; a shorter one is not worth leaving the input buffer for.
const DIRECT_READ_MIN: usize = 16 * 1024;

// amqpctl patch: a body frame being read into its message's buffer: the
// payload (read until `body` is `end` long, into its spare capacity), then the
// frame-end octet.
enum Direct {
    Payload {
        channel_id: u16,
        body: Vec<u8>,
        end: usize,
    },
    FrameEnd {
        channel_id: u16,
        body: Vec<u8>,
    },
}

struct Inner<Kind: FrameKind> {
    buf: InputBuffer,
    direct: Option<Direct>,
    // amqpctl patch: the handler would not lend a buffer for the frame at the
    // front of the input buffer; it is not asked again for that frame.
    declined: bool,
    phantom: PhantomData<Kind>,
}

impl<Kind: FrameKind> Inner<Kind> {
    fn new() -> Inner<Kind> {
        Inner {
            buf: InputBuffer::new(),
            direct: None,
            declined: false,
            phantom: PhantomData,
        }
    }

    fn read_from<S, H>(&mut self, stream: &mut S, handler: &mut H) -> Result<usize>
    where
        S: ReadUninit,
        H: FrameHandler<Kind>,
    {
        let mut bytes_read = 0;

        loop {
            // amqpctl patch: a body frame going straight into its message.
            match self.direct.take() {
                Some(Direct::Payload {
                    channel_id,
                    mut body,
                    end,
                }) => {
                    let want = end - body.len();
                    let room = &mut body.spare_capacity_mut()[..want];
                    let n = match stream.read_uninit(room) {
                        Ok(0) => return UnexpectedSocketCloseSnafu.fail(),
                        Ok(n) => n,
                        Err(err) => match err.kind() {
                            io::ErrorKind::Interrupted => 0,
                            io::ErrorKind::WouldBlock => {
                                self.direct = Some(Direct::Payload {
                                    channel_id,
                                    body,
                                    end,
                                });
                                return Ok(bytes_read);
                            }
                            _ => return Err(err).context(IoErrorReadingSocketSnafu),
                        },
                    };
                    trace!("read {} bytes into a message body", n);
                    // A reader claiming more than the room it was given is
                    // not believed beyond it.
                    let n = n.min(want);
                    // SAFETY: the stream wrote the first `n` bytes of `room`,
                    // which begins at `body.len()` and is `want` long.
                    unsafe { body.set_len(body.len() + n) };
                    bytes_read += n;
                    self.direct = Some(if body.len() == end {
                        Direct::FrameEnd { channel_id, body }
                    } else {
                        Direct::Payload {
                            channel_id,
                            body,
                            end,
                        }
                    });
                    continue;
                }
                Some(Direct::FrameEnd { channel_id, body }) => match self.buf.chunk().first() {
                    Some(&FRAME_END) => {
                        self.buf.advance(1);
                        handler.body_read(channel_id, body)?;
                        continue;
                    }
                    Some(_) => return MalformedFrameSnafu.fail(),
                    None => self.direct = Some(Direct::FrameEnd { channel_id, body }),
                },
                None => (),
            }

            let bytes = self.buf.chunk();
            let frame_size = Kind::parse_size(bytes);
            let buffered = bytes.len();
            let mut reserve = MIN_READ;

            // if we already have enough data buffered to read a frame, do that before
            // trying to read from the stream.
            if let (Some(frame_size), None) = (frame_size, &self.direct) {
                if bytes.len() >= frame_size {
                    let frame = Kind::parse_frame(&bytes[..frame_size])?;
                    handler.frame(frame)?;
                    self.buf.advance(frame_size);
                    self.declined = false;
                    continue;
                } else if self.declined {
                    reserve = usize::max(MIN_READ, frame_size - buffered);
                } else if let Some(direct) = self.lend(frame_size, handler) {
                    self.buf.advance(buffered);
                    self.direct = Some(direct);
                    continue;
                } else {
                    // not enough data, but we know how much we need; try to read that
                    // much from the stream if it's larger than MIN_READ
                    // amqpctl patch: what the frame still lacks, not its whole size:
                    // input_buffer zeroes the room it reserves before every read, and
                    // moves what is buffered to its front to make that room.
                    reserve = usize::max(MIN_READ, frame_size - buffered);
                }
            }

            // need to read more data from the stream to get to a frame
            match self.buf.prepare_reserve(reserve).read_from(stream) {
                Ok(0) => return UnexpectedSocketCloseSnafu.fail(),
                Ok(n) => {
                    trace!("read {} bytes", n);
                    bytes_read += n;
                }
                Err(err) => match err.kind() {
                    io::ErrorKind::WouldBlock => return Ok(bytes_read),
                    _ => return Err(err).context(IoErrorReadingSocketSnafu),
                },
            }
        }
    }

    // amqpctl patch: `bytes` (all that is buffered) begin a frame of
    // `frame_size` bytes but do not hold it. If it is a content body frame
    // with much still to come and the handler lends its message's buffer,
    // the buffered part of the payload goes into that buffer, which reserves
    // room for the rest, for the stream to be read into.
    // A handler that declines is not asked again for the same frame.
    fn lend<H: FrameHandler<Kind>>(&mut self, frame_size: usize, handler: &mut H) -> Option<Direct> {
        let bytes = self.buf.chunk();
        let (channel_id, len) = Kind::body_header(bytes)?;
        let payload = &bytes[frame_size - 1 - len..];
        if len - payload.len() < DIRECT_READ_MIN {
            return None;
        }
        let Some(mut body) = handler.lend_body(channel_id, len) else {
            self.declined = true;
            return None;
        };
        let end = body.len() + len;
        body.reserve_exact(len);
        body.extend_from_slice(payload);
        Some(Direct::Payload {
            channel_id,
            body,
            end,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{AmqpFrameKind, Frame, FrameHandler, FrameKind, Frames, Inner, ReadUninit, Result};
    use crate::stream::read_zeroed;
    use std::mem::MaybeUninit;
    use crate::errors::*;
    use mockstream::FailingMockStream;
    use std::io::{self, Cursor, Read};

    struct FakeFrameKind {}

    impl FrameKind for FakeFrameKind {
        type Frame<'a> = Vec<u8>;

        fn parse_size(buf: &[u8]) -> Option<usize> {
            if buf.len() >= 2 {
                Some(buf[1] as usize)
            } else {
                None
            }
        }

        fn parse_frame(buf: &[u8]) -> Result<Self::Frame<'_>> {
            assert!(buf.len() == buf[1] as usize);
            if buf.len() == 6 && &buf[2..] == b"fail" {
                MalformedFrameSnafu.fail()
            } else {
                Ok(Vec::from(buf))
            }
        }
    }

    impl<A: Read, B: Read> ReadUninit for io::Chain<A, B> {
        fn read_uninit(&mut self, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
            read_zeroed(self, buf)
        }
    }

    impl<T: AsRef<[u8]>> ReadUninit for Cursor<T> {
        fn read_uninit(&mut self, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
            read_zeroed(self, buf)
        }
    }

    impl<Kind: FrameKind> Inner<Kind> {
        fn read_frames<S, F>(&mut self, stream: &mut S, handler: F) -> Result<usize>
        where
            S: ReadUninit,
            F: FnMut(Kind::Frame<'_>) -> Result<()>,
        {
            self.read_from(stream, &mut Frames(handler))
        }
    }

    fn make_buffer() -> Inner<FakeFrameKind> {
        Inner::new()
    }

    fn would_block() -> FailingMockStream {
        FailingMockStream::new(io::ErrorKind::WouldBlock, "", 1)
    }

    #[test]
    fn full_frame_available() {
        let frame0 = b"a\x04aa";
        let mut c = Cursor::new(frame0).chain(would_block());

        let mut got = None;
        let mut buf = make_buffer();
        let n = buf
            .read_frames(&mut c, |f| {
                got = Some(f);
                Ok(())
            })
            .unwrap();

        assert_eq!(n, 4);
        assert_eq!(got, Some(Vec::from(&frame0[..])));
    }

    #[test]
    fn two_full_frames_available() {
        let frame0 = b"a\x04aa";
        let frame1 = b"b\x04bb";
        let mut c = Cursor::new(frame0)
            .chain(Cursor::new(frame1))
            .chain(would_block());

        let mut got = Vec::new();
        let mut buf = make_buffer();
        let n = buf.read_frames(&mut c, |f| {
            got.push(f);
            Ok(())
        }).unwrap();

        assert_eq!(n, 8);
        assert_eq!(got, vec![Vec::from(&frame0[..]), Vec::from(&frame1[..])]);
    }

    #[test]
    fn partial_first_frame() {
        let mut c = Cursor::new(b"a\x04")
            .chain(would_block())
            .chain(Cursor::new(b"aa"))
            .chain(would_block());

        let mut got = None;
        let mut buf = make_buffer();
        let n = buf
            .read_frames(&mut c, |f| {
                got = Some(f);
                Ok(())
            })
            .unwrap();
        assert_eq!(n, 2);
        assert!(got.is_none());

        let n = buf
            .read_frames(&mut c, |f| {
                got = Some(f);
                Ok(())
            })
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(got, Some(b"a\x04aa".to_vec()));
    }

    #[test]
    fn split_frames() {
        let mut c = Cursor::new(b"a\x04")
            .chain(would_block())
            .chain(Cursor::new(b"aab\x04b"))
            .chain(would_block())
            .chain(Cursor::new(b"bc\x04"))
            .chain(would_block());

        let mut got = Vec::new();
        let mut buf = make_buffer();
        let n = buf.read_frames(&mut c, |f| {
            got.push(f);
            Ok(())
        }).unwrap();
        assert_eq!(n, 2);
        assert!(got.is_empty());

        let n = buf.read_frames(&mut c, |f| {
            got.push(f);
            Ok(())
        }).unwrap();
        assert_eq!(n, 5);
        assert_eq!(got, vec![b"a\x04aa".to_vec()]);

        let n = buf.read_frames(&mut c, |f| {
            got.push(f);
            Ok(())
        }).unwrap();
        assert_eq!(n, 3);
        assert_eq!(
            got,
            vec![
                b"a\x04aa".to_vec(),
                b"b\x04bb".to_vec()
            ]
        );
    }

    #[test]
    fn parse_fail() {
        let mut c = Cursor::new(b"x\x06fail").chain(would_block());

        let mut buf = make_buffer();
        let res = buf.read_frames(&mut c, |_| panic!("should not be called"));
        assert!(res.is_err());
        match res.unwrap_err() {
            Error::MalformedFrame => (),
            err => panic!("unexpected error {}", err),
        }
    }

    #[test]
    fn callback_fail() {
        let mut c = Cursor::new(b"a\x04aa").chain(would_block());

        // use __Nonexhaustive as "some non-parsing, non-I/O error"
        let mut buf = make_buffer();
        let res = buf.read_frames(&mut c, |_| __NonexhaustiveSnafu.fail());
        assert!(res.is_err());
        match res.unwrap_err() {
            Error::__Nonexhaustive => (),
            err => panic!("unexpected error {}", err),
        }
    }

    #[test]
    fn eof_fail() {
        let mut c = Cursor::new(b"a\x04a");

        let mut buf = make_buffer();
        let res = buf.read_frames(&mut c, |_| panic!("should not be called"));
        assert!(res.is_err());
        match res.unwrap_err() {
            Error::UnexpectedSocketClose => (),
            err => panic!("unexpected error {}", err),
        }
    }

    #[test]
    fn body_frame_is_lent_from_the_buffer() {
        // a body frame of 3 bytes on channel 258, then a heartbeat (parsed)
        let frames = b"\x03\x01\x02\x00\x00\x00\x03a\x00\xce\xce\x08\x00\x00\x00\x00\x00\x00\xce";
        let mut c = Cursor::new(&frames[..]).chain(would_block());

        let mut got = Vec::new();
        let mut buf = Inner::<AmqpFrameKind>::new();
        let n = buf
            .read_frames(&mut c, |f| {
                got.push(match f {
                    Frame::Body(ch, payload) => (ch, Some(payload.to_vec())),
                    Frame::Parsed(amq_protocol::frame::AMQPFrame::Heartbeat(ch)) => (ch, None),
                    other => panic!("unexpected frame {:?}", other),
                });
                Ok(())
            })
            .unwrap();

        assert_eq!(n, frames.len());
        assert_eq!(got, vec![(258, Some(b"a\x00\xce".to_vec())), (0, None)]);
    }

    #[test]
    fn body_frame_with_bad_frame_end() {
        let mut c = Cursor::new(b"\x03\x00\x01\x00\x00\x00\x02ab\xcd").chain(would_block());

        let mut buf = Inner::<AmqpFrameKind>::new();
        let res = buf.read_frames(&mut c, |_| panic!("should not be called"));
        match res.unwrap_err() {
            Error::MalformedFrame => (),
            err => panic!("unexpected error {}", err),
        }
    }

    // amqpctl patch (change 16): a handler that lends a buffer (holding
    // "pre") for every body frame it is asked about, if `lend`.
    #[derive(Default)]
    struct Lender {
        lend: bool,
        asked: Vec<(u16, usize)>,
        frames: Vec<Option<Vec<u8>>>,
        read: Vec<(u16, Vec<u8>)>,
    }

    impl FrameHandler<AmqpFrameKind> for Lender {
        fn frame(&mut self, frame: Frame<'_>) -> Result<()> {
            self.frames.push(match frame {
                Frame::Body(_, payload) => Some(payload.to_vec()),
                Frame::Parsed(_) => None,
            });
            Ok(())
        }

        fn lend_body(&mut self, channel_id: u16, len: usize) -> Option<Vec<u8>> {
            self.asked.push((channel_id, len));
            Some(b"pre".to_vec()).filter(|_| self.lend)
        }

        fn body_read(&mut self, channel_id: u16, body: Vec<u8>) -> Result<()> {
            self.read.push((channel_id, body));
            Ok(())
        }
    }

    const HEARTBEAT: &[u8] = b"\x08\x00\x00\x00\x00\x00\x00\xce";

    fn body_frame(channel_id: u16, payload: &[u8], frame_end: u8) -> Vec<u8> {
        let mut frame = vec![3];
        frame.extend_from_slice(&channel_id.to_be_bytes());
        frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        frame.extend_from_slice(payload);
        frame.push(frame_end);
        frame
    }

    fn binary(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    // The frame arrives in three reads split at `cuts`, then a heartbeat.
    fn read_in_three(frame: &[u8], cuts: (usize, usize), lender: &mut Lender) -> Result<usize> {
        let mut c = Cursor::new(frame[..cuts.0].to_vec())
            .chain(would_block())
            .chain(Cursor::new(frame[cuts.0..cuts.1].to_vec()))
            .chain(would_block())
            .chain(Cursor::new([&frame[cuts.1..], HEARTBEAT].concat()))
            .chain(would_block());
        let mut buf = Inner::<AmqpFrameKind>::new();
        let mut n = 0;
        for _ in 0..3 {
            n += buf.read_from(&mut c, lender)?;
        }
        Ok(n)
    }

    #[test]
    fn large_body_frame_is_read_into_the_lent_buffer() {
        let payload = binary(40_000);
        let frame = body_frame(258, &payload, 0xce);
        let mut lender = Lender { lend: true, ..Lender::default() };
        let n = read_in_three(&frame, (100, 30_000), &mut lender).unwrap();

        assert_eq!(n, frame.len() + HEARTBEAT.len());
        assert_eq!(lender.asked, vec![(258, 40_000)]);
        assert_eq!(lender.read, vec![(258, [&b"pre"[..], &payload].concat())]);
        assert_eq!(lender.frames, vec![None]);
    }

    #[test]
    fn large_body_frame_not_lent_is_handed_over_whole() {
        let payload = binary(40_000);
        let frame = body_frame(1, &payload, 0xce);
        let mut lender = Lender::default();
        read_in_three(&frame, (100, 30_000), &mut lender).unwrap();

        assert_eq!(lender.asked, vec![(1, 40_000)]);
        assert!(lender.read.is_empty());
        assert_eq!(lender.frames, vec![Some(payload), None]);
    }

    #[test]
    fn body_frame_with_little_left_to_read_is_not_lent() {
        let payload = binary(20_000);
        let frame = body_frame(1, &payload, 0xce);
        let mut lender = Lender { lend: true, ..Lender::default() };
        read_in_three(&frame, (8_000, 10_000), &mut lender).unwrap();

        assert!(lender.asked.is_empty());
        assert_eq!(lender.frames, vec![Some(payload), None]);
    }

    #[test]
    fn body_frame_read_into_the_lent_buffer_with_bad_frame_end() {
        let frame = body_frame(1, &binary(40_000), 0xcd);
        let mut lender = Lender { lend: true, ..Lender::default() };
        match read_in_three(&frame, (100, 30_000), &mut lender).unwrap_err() {
            Error::MalformedFrame => (),
            err => panic!("unexpected error {}", err),
        }
        assert!(lender.read.is_empty());
    }

    #[test]
    fn socket_closed_inside_a_lent_body_frame() {
        let frame = body_frame(1, &binary(40_000), 0xce);
        let mut c = Cursor::new(frame[..30_000].to_vec());
        let mut lender = Lender { lend: true, ..Lender::default() };
        let mut buf = Inner::<AmqpFrameKind>::new();
        match buf.read_from(&mut c, &mut lender).unwrap_err() {
            Error::UnexpectedSocketClose => (),
            err => panic!("unexpected error {}", err),
        }
        assert_eq!(lender.asked, vec![(1, 40_000)]);
    }

    #[test]
    fn io_fail() {
        let mut c = Cursor::new(b"a\x04a").chain(FailingMockStream::new(
            io::ErrorKind::ConnectionReset,
            "",
            1,
        ));

        let mut buf = make_buffer();
        let res = buf.read_frames(&mut c, |_| panic!("should not be called"));
        assert!(res.is_err());
        match res.unwrap_err() {
            Error::IoErrorReadingSocket { .. } => (),
            err => panic!("unexpected error {}", err),
        }
    }
}
