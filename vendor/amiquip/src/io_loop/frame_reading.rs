// amqpctl patch (change 16): how the I/O loop's connection states take the
// frames `FrameBuffer` reads, including a large content body frame read from
// the stream straight into the buffer of its message.
use super::handshake_state::HandshakeState;
use super::Inner;
use crate::errors::*;
use crate::frame_buffer::{AmqpFrameKind, Frame, FrameHandler};
use crate::Sasl;
use log::trace;

/// A state of the I/O loop that frames read from the stream go to.
pub(super) trait StreamHandler {
    /// A whole frame.
    fn frame(&mut self, inner: &mut Inner, frame: Frame<'_>) -> Result<()>;

    /// The buffer of the message that the next body frame on `channel_id`,
    /// of `len` payload bytes, belongs to, if it may be read into it.
    fn lend_body(&mut self, _inner: &mut Inner, _channel_id: u16, _len: usize) -> Option<Vec<u8>> {
        None
    }

    /// The buffer lent by `lend_body`, back with the frame's payload.
    fn body_read(&mut self, _inner: &mut Inner, _channel_id: u16, _body: Vec<u8>) -> Result<()> {
        FrameUnexpectedSnafu.fail()
    }
}

/// During the handshake every frame is made owned: a body frame is as
/// unexpected there as any frame the handshake does not wait for.
impl<Auth: Sasl> StreamHandler for HandshakeState<Auth> {
    fn frame(&mut self, inner: &mut Inner, frame: Frame<'_>) -> Result<()> {
        self.process(inner, frame.into_owned())
    }
}

/// The I/O loop's `Inner` and a state, as the frame buffer's handler.
pub(super) struct Reading<'a, H> {
    inner: &'a mut Inner,
    handler: &'a mut H,
}

impl<'a, H: StreamHandler> Reading<'a, H> {
    pub(super) fn new(inner: &'a mut Inner, handler: &'a mut H) -> Self {
        Reading { inner, handler }
    }
}

impl<H: StreamHandler> FrameHandler<AmqpFrameKind> for Reading<'_, H> {
    fn frame(&mut self, frame: Frame<'_>) -> Result<()> {
        match &frame {
            Frame::Parsed(frame) => trace!("read frame {:?}", frame),
            Frame::Body(n, body) => {
                trace!("read body frame of {} bytes on channel {}", body.len(), n)
            }
        }
        self.handler.frame(self.inner, frame)
    }

    fn lend_body(&mut self, channel_id: u16, len: usize) -> Option<Vec<u8>> {
        self.handler.lend_body(self.inner, channel_id, len)
    }

    fn body_read(&mut self, channel_id: u16, body: Vec<u8>) -> Result<()> {
        trace!("read a body frame into its message on channel {}", channel_id);
        self.handler.body_read(self.inner, channel_id, body)
    }
}
