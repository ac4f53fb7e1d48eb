//! Property tests of the command line's parsers.
