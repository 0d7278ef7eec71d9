//! Payload codecs of the Ceph messages pollmsgr sends and understands.
