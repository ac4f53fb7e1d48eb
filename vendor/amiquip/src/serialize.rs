use crate::errors::*;
use amq_protocol::frame::generation::{
    gen_content_body_frame, gen_content_header_frame, gen_heartbeat_frame, gen_method_frame,
};
use amq_protocol::frame::AMQPFrame;
use amq_protocol::protocol::basic::AMQPMethod as AmqpBasic;
use amq_protocol::protocol::basic::AMQPProperties;
use amq_protocol::protocol::channel::AMQPMethod as AmqpChannel;
use amq_protocol::protocol::confirm::AMQPMethod as AmqpConfirm;
use amq_protocol::protocol::connection::AMQPMethod as AmqpConnection;
use amq_protocol::protocol::exchange::AMQPMethod as AmqpExchange;
use amq_protocol::protocol::queue::AMQPMethod as AmqpQueue;
use amq_protocol::protocol::constants::{FRAME_BODY, FRAME_END};
use amq_protocol::protocol::AMQPClass;
use cookie_factory::GenError;
use std::collections::VecDeque;
use std::ops::{Index, RangeFrom};
use std::result::Result as StdResult;

pub trait TryFromAmqpClass: Sized {
    fn try_from(class: AMQPClass) -> Result<Self>;
}

macro_rules! impl_try_from_class {
    ($type:ty, $class:path, $method:path) => {
        impl TryFromAmqpClass for $type {
            fn try_from(class: AMQPClass) -> Result<Self> {
                match class {
                    $class($method(val)) => Ok(val),
                    _ => FrameUnexpectedSnafu.fail(),
                }
            }
        }
    };
}

impl_try_from_class!(
    amq_protocol::protocol::connection::Start,
    AMQPClass::Connection,
    AmqpConnection::Start
);
impl_try_from_class!(
    amq_protocol::protocol::connection::Secure,
    AMQPClass::Connection,
    AmqpConnection::Secure
);
impl_try_from_class!(
    amq_protocol::protocol::connection::Tune,
    AMQPClass::Connection,
    AmqpConnection::Tune
);
impl_try_from_class!(
    amq_protocol::protocol::connection::OpenOk,
    AMQPClass::Connection,
    AmqpConnection::OpenOk
);
impl_try_from_class!(
    amq_protocol::protocol::connection::Close,
    AMQPClass::Connection,
    AmqpConnection::Close
);
impl_try_from_class!(
    amq_protocol::protocol::connection::CloseOk,
    AMQPClass::Connection,
    AmqpConnection::CloseOk
);

impl_try_from_class!(
    amq_protocol::protocol::channel::OpenOk,
    AMQPClass::Channel,
    AmqpChannel::OpenOk
);
impl_try_from_class!(
    amq_protocol::protocol::channel::CloseOk,
    AMQPClass::Channel,
    AmqpChannel::CloseOk
);

impl_try_from_class!(
    amq_protocol::protocol::basic::ConsumeOk,
    AMQPClass::Basic,
    AmqpBasic::ConsumeOk
);
impl_try_from_class!(
    amq_protocol::protocol::basic::CancelOk,
    AMQPClass::Basic,
    AmqpBasic::CancelOk
);
impl_try_from_class!(
    amq_protocol::protocol::basic::QosOk,
    AMQPClass::Basic,
    AmqpBasic::QosOk
);
impl_try_from_class!(
    amq_protocol::protocol::basic::RecoverOk,
    AMQPClass::Basic,
    AmqpBasic::RecoverOk
);

impl_try_from_class!(
    amq_protocol::protocol::confirm::SelectOk,
    AMQPClass::Confirm,
    AmqpConfirm::SelectOk
);

impl_try_from_class!(
    amq_protocol::protocol::queue::DeclareOk,
    AMQPClass::Queue,
    AmqpQueue::DeclareOk
);
impl_try_from_class!(
    amq_protocol::protocol::queue::BindOk,
    AMQPClass::Queue,
    AmqpQueue::BindOk
);
impl_try_from_class!(
    amq_protocol::protocol::queue::DeleteOk,
    AMQPClass::Queue,
    AmqpQueue::DeleteOk
);
impl_try_from_class!(
    amq_protocol::protocol::queue::PurgeOk,
    AMQPClass::Queue,
    AmqpQueue::PurgeOk
);
impl_try_from_class!(
    amq_protocol::protocol::queue::UnbindOk,
    AMQPClass::Queue,
    AmqpQueue::UnbindOk
);

impl_try_from_class!(
    amq_protocol::protocol::exchange::BindOk,
    AMQPClass::Exchange,
    AmqpExchange::BindOk
);
impl_try_from_class!(
    amq_protocol::protocol::exchange::DeclareOk,
    AMQPClass::Exchange,
    AmqpExchange::DeclareOk
);
impl_try_from_class!(
    amq_protocol::protocol::exchange::DeleteOk,
    AMQPClass::Exchange,
    AmqpExchange::DeleteOk
);
impl_try_from_class!(
    amq_protocol::protocol::exchange::UnbindOk,
    AMQPClass::Exchange,
    AmqpExchange::UnbindOk
);

pub(crate) trait TryFromAmqpFrame: Sized {
    fn try_from(channel_id: u16, frame: AMQPFrame) -> Result<Self>;
}

impl<T: TryFromAmqpClass> TryFromAmqpFrame for T {
    fn try_from(expected_id: u16, frame: AMQPFrame) -> Result<Self> {
        match frame {
            AMQPFrame::Method(channel_id, method) => {
                if expected_id == channel_id {
                    Self::try_from(method)
                } else {
                    FrameUnexpectedSnafu.fail()
                }
            }
            _ => FrameUnexpectedSnafu.fail(),
        }
    }
}

pub trait IntoAmqpClass {
    fn into_class(self) -> AMQPClass;
}

impl IntoAmqpClass for AmqpConnection {
    fn into_class(self) -> AMQPClass {
        AMQPClass::Connection(self)
    }
}

impl IntoAmqpClass for AmqpBasic {
    fn into_class(self) -> AMQPClass {
        AMQPClass::Basic(self)
    }
}

impl IntoAmqpClass for AmqpChannel {
    fn into_class(self) -> AMQPClass {
        AMQPClass::Channel(self)
    }
}

impl IntoAmqpClass for AmqpConfirm {
    fn into_class(self) -> AMQPClass {
        AMQPClass::Confirm(self)
    }
}

impl IntoAmqpClass for AmqpQueue {
    fn into_class(self) -> AMQPClass {
        AMQPClass::Queue(self)
    }
}

impl IntoAmqpClass for AmqpExchange {
    fn into_class(self) -> AMQPClass {
        AMQPClass::Exchange(self)
    }
}

#[derive(Debug)]
pub(crate) struct OutputBuffer(Vec<u8>);

impl OutputBuffer {
    pub fn with_protocol_header() -> OutputBuffer {
        OutputBuffer(b"AMQP\x00\x00\x09\x01".to_vec())
    }

    pub(crate) fn empty() -> OutputBuffer {
        OutputBuffer(Vec::new())
    }

    pub(crate) fn drain_into_new_buf(&mut self) -> OutputBuffer {
        let mut buf = OutputBuffer(Vec::with_capacity(self.len()));
        buf.0.append(&mut self.0);
        buf
    }

    pub fn push_heartbeat(&mut self) {
        // serializing heartbeat cannot fail; safe to unwrap.
        serialize(&mut self.0, 8, |buf, pos| gen_heartbeat_frame((buf, pos)))
    }

    // This can only fail if there is a bug in the serialization library; it is probably
    // safe to unwrap, but little cost to return a Result instead.
    pub fn push_method<M>(&mut self, channel_id: u16, method: M)
    where
        M: IntoAmqpClass,
    {
        let class = method.into_class();
        serialize(&mut self.0, SPARE, |buf, pos| {
            gen_method_frame((buf, pos), channel_id, &class)
        })
    }

    pub(crate) fn push_content_header(
        &mut self,
        channel_id: u16,
        class_id: u16,
        length: usize,
        properties: &AMQPProperties,
    ) {
        let length = length as u64;
        serialize(&mut self.0, SPARE, |buf, pos| {
            gen_content_header_frame((buf, pos), channel_id, class_id, length, properties)
        })
    }

    // amqpctl patch (change 17): a content body frame in a buffer of its own
    // and of its exact size, the content copied once: type, channel and size,
    // as `gen_content_body_frame` writes them, the content, the frame-end.
    pub(crate) fn content_body_frame(channel_id: u16, content: &[u8]) -> OutputBuffer {
        let mut frame = Vec::with_capacity(content.len() + 8);
        frame.push(FRAME_BODY);
        frame.extend_from_slice(&channel_id.to_be_bytes());
        frame.extend_from_slice(&(content.len() as u32).to_be_bytes());
        frame.extend_from_slice(content);
        frame.push(FRAME_END);
        OutputBuffer(frame)
    }

    pub(crate) fn push_content_body(&mut self, channel_id: u16, content: &[u8]) {
        serialize(&mut self.0, content.len() + 8, |buf, pos| {
            gen_content_body_frame((buf, pos), channel_id, content)
        })
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    #[inline]
    pub fn clear(&mut self) {
        self.0.clear()
    }

    #[inline]
    pub fn drain_written(&mut self, n: usize) {
        self.0.drain(0..n);
    }

    #[inline]
    pub fn append(&mut self, mut other: OutputBuffer) {
        self.0.append(&mut other.0)
    }
}

impl Index<RangeFrom<usize>> for OutputBuffer {
    type Output = [u8];

    #[inline]
    fn index(&self, index: RangeFrom<usize>) -> &[u8] {
        &self.0[index]
    }
}

// amqpctl patch (change 17): what waits to be written is a queue of chunks.
// A large buffer handed over (`append`, a content body frame of
// `KEEP_WHOLE` bytes or more) becomes a chunk of its own as it came, not
// copied; frames pushed here and small buffers go on the back chunk while it
// is one of ours (`back_is_ours`), so small frames still go out many to a
// write, as when this was one buffer.
const KEEP_WHOLE: usize = 16 * 1024;

pub(super) struct SealableOutputBuffer {
    chunks: VecDeque<OutputBuffer>,
    back_is_ours: bool,
    // amqpctl patch: bytes at the front of the front chunk already written
    // to the socket. While that chunk is also the one small frames go on,
    // they are dropped only once they are at least half of it, so a short
    // write does not move everything behind it to the front (with megabytes
    // queued, that memmove was most of a publisher's CPU).
    written: usize,
    // unwritten bytes in all chunks
    len: usize,
    sealed: bool,
}

impl SealableOutputBuffer {
    pub(super) fn new(buf: OutputBuffer) -> SealableOutputBuffer {
        SealableOutputBuffer {
            len: buf.len(),
            chunks: VecDeque::from([buf]),
            back_is_ours: true,
            written: 0,
            sealed: false,
        }
    }

    #[inline]
    pub(super) fn seal(&mut self) {
        self.sealed = true;
    }

    #[inline]
    pub(super) fn is_sealed(&self) -> bool {
        self.sealed
    }

    #[inline]
    pub(super) fn push_heartbeat(&mut self) {
        if !self.sealed {
            self.push_on_back(|back| back.push_heartbeat());
        }
    }

    #[inline]
    pub(super) fn push_method<M>(&mut self, channel_id: u16, method: M)
    where
        M: IntoAmqpClass,
    {
        if !self.sealed {
            self.push_on_back(|back| back.push_method(channel_id, method));
        }
    }

    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn append(&mut self, other: OutputBuffer) {
        if self.sealed || other.is_empty() {
            return;
        }
        if other.len() >= KEEP_WHOLE {
            if self.back_is_ours && self.chunks.back().is_some_and(|back| back.is_empty()) {
                // an empty chunk of ours (all written) is not left in front
                // of it, to be "written" by a write of nothing
                self.chunks.pop_back();
            }
            self.len += other.len();
            self.chunks.push_back(other);
            self.back_is_ours = false;
        } else {
            self.push_on_back(|back| back.append(other));
        }
    }

    // The bytes to write next: the unwritten part of the front chunk (empty
    // when everything is written).
    pub(super) fn unwritten(&self) -> &[u8] {
        match self.chunks.front() {
            Some(front) => &front[self.written..],
            None => &[],
        }
    }

    // `n` bytes of `unwritten()` were written.
    pub(super) fn consume(&mut self, n: usize) {
        self.len -= n;
        self.written += n;
        let single = self.chunks.len() == 1 && self.back_is_ours;
        let Some(front) = self.chunks.front_mut() else {
            return;
        };
        if self.written == front.len() {
            self.written = 0;
            if single {
                // kept, with its capacity, for the small frames to come
                front.clear();
            } else {
                self.chunks.pop_front();
                if self.chunks.is_empty() {
                    self.back_is_ours = false;
                }
            }
        } else if single && self.written >= front.len() / 2 {
            front.drain_written(self.written);
            self.written = 0;
        }
    }

    fn push_on_back(&mut self, push: impl FnOnce(&mut OutputBuffer)) {
        if !self.back_is_ours {
            self.chunks.push_back(OutputBuffer::empty());
            self.back_is_ours = true;
        }
        let Some(back) = self.chunks.back_mut() else {
            return;
        };
        let before = back.len();
        push(back);
        self.len += back.len() - before;
    }
}

// amqpctl patch 9: generate each frame into room reserved ahead (`hint`
// bytes, at least `SPARE`), growing it geometrically, instead of growing the
// buffer to cookie-factory's `BufferTooSmall` index and starting over: that
// index is only the end of the field that did not fit, so a frame of k
// fields was generated k times over (a dead letter's `x-death` table, dozens).
const SPARE: usize = 512;

fn serialize<F: Fn(&mut [u8], usize) -> StdResult<(&mut [u8], usize), GenError>>(
    buf: &mut Vec<u8>,
    hint: usize,
    f: F,
) {
    let pos = buf.len();
    let mut room = hint.max(SPARE);
    loop {
        buf.resize(pos + room, 0);
        let generated = f(buf, pos).map(|(_, end)| end);
        match generated {
            Ok(end) => {
                buf.truncate(end);
                return;
            }
            Err(GenError::BufferTooSmall(n)) => room = (n - pos).max(2 * room),
            Err(err) => unreachable!("impossible serialization error: {:?}", err),
        }
    }
}

// amqpctl patch (change 17): the output buffer's queue of chunks.
#[cfg(test)]
mod tests {
    use super::{OutputBuffer, SealableOutputBuffer, KEEP_WHOLE};

    fn bytes(b: u8, len: usize) -> OutputBuffer {
        OutputBuffer(vec![b; len])
    }

    // Writes everything, `step` bytes a write at most, as a socket taking
    // short writes would; returns the bytes in the order written.
    fn write_all(out: &mut SealableOutputBuffer, step: usize) -> Vec<u8> {
        let mut written = Vec::new();
        while !out.is_empty() {
            let chunk = out.unwritten();
            assert!(!chunk.is_empty(), "nothing to write with {} bytes left", out.len());
            let n = chunk.len().min(step);
            written.extend_from_slice(&chunk[..n]);
            out.consume(n);
        }
        written
    }

    fn expected(parts: &[(u8, usize)]) -> Vec<u8> {
        parts.iter().flat_map(|&(b, len)| vec![b; len]).collect()
    }

    #[test]
    fn small_and_large_buffers_go_out_in_the_order_they_came() {
        for step in [1, 7, 4096, 1 << 20] {
            let parts = [(1, 10), (2, KEEP_WHOLE), (3, 5), (4, 3 * KEEP_WHOLE), (5, KEEP_WHOLE)];
            let mut out = SealableOutputBuffer::new(OutputBuffer::empty());
            let mut total = 0;
            for &(b, len) in &parts {
                out.append(bytes(b, len));
                total += len;
                assert_eq!(out.len(), total);
            }
            assert_eq!(write_all(&mut out, step), expected(&parts), "step {step}");
            assert!(out.is_empty());
            assert!(out.unwritten().is_empty());
        }
    }

    #[test]
    fn a_large_buffer_is_kept_whole_and_small_ones_share_a_chunk() {
        let mut out = SealableOutputBuffer::new(OutputBuffer::with_protocol_header());
        out.append(bytes(1, 3));
        out.append(bytes(2, KEEP_WHOLE));
        out.append(bytes(3, 4));
        out.push_heartbeat();
        assert_eq!(out.chunks.len(), 3);
        assert_eq!(out.unwritten(), &b"AMQP\x00\x00\x09\x01\x01\x01\x01"[..]);
        out.consume(11);
        assert_eq!(out.unwritten(), &vec![2; KEEP_WHOLE][..]);
        out.consume(KEEP_WHOLE);
        assert_eq!(out.unwritten(), &b"\x03\x03\x03\x03\x08\x00\x00\x00\x00\x00\x00\xce"[..]);
    }

    #[test]
    fn writing_between_appends_keeps_the_order() {
        let mut out = SealableOutputBuffer::new(OutputBuffer::empty());
        let mut written = Vec::new();
        let mut parts = Vec::new();
        for i in 0..40u8 {
            let len = if i % 3 == 0 { KEEP_WHOLE + i as usize } else { 1 + i as usize * 13 };
            out.append(bytes(i, len));
            parts.push((i, len));
            // a short write of part of what is there
            let chunk = out.unwritten();
            let n = chunk.len().min(997);
            written.extend_from_slice(&chunk[..n]);
            out.consume(n);
        }
        written.extend(write_all(&mut out, 5000));
        assert_eq!(written, expected(&parts));
    }

    #[test]
    fn a_sealed_buffer_takes_nothing_more() {
        let mut out = SealableOutputBuffer::new(OutputBuffer::empty());
        out.append(bytes(1, 2));
        out.seal();
        out.append(bytes(2, KEEP_WHOLE));
        out.append(bytes(3, 2));
        out.push_heartbeat();
        assert_eq!(write_all(&mut out, 1), vec![1, 1]);
    }
}
