/**
 * Why bytes were not a valid STUN message. Decoding returns these as values and never throws:
 * every datagram from the network passes through the decoder.
 */
export type StunDecodeError =
  /** Shorter than the 20-byte header. */
  | { readonly kind: 'too_short' }
  /** Top two bits set, wrong magic cookie, or a length not a multiple of 4 (RFC 8489 §6.3). */
  | { readonly kind: 'not_stun' }
  /** The header's length disagrees with the datagram's. */
  | { readonly kind: 'length_mismatch'; readonly declared: number; readonly actual: number }
  /** An attribute runs past the end of the message. */
  | { readonly kind: 'truncated_attribute'; readonly attribute: number }
  /** A known attribute whose value is malformed for its type. */
  | { readonly kind: 'malformed_attribute'; readonly attribute: number }
  /** RFC 8489 §14.7: FINGERPRINT must be the last attribute. */
  | { readonly kind: 'fingerprint_not_last' }
  | { readonly kind: 'fingerprint_mismatch' };

export type StunDecodeErrorKind = StunDecodeError['kind'];

export function describeStunError(error: StunDecodeError): string {
  switch (error.kind) {
    case 'too_short':
      return 'shorter than a STUN header';
    case 'not_stun':
      return 'not a STUN message (leading bits, magic cookie or length)';
    case 'length_mismatch':
      return `header declares ${error.declared} bytes of attributes, datagram has ${error.actual}`;
    case 'truncated_attribute':
      return `attribute 0x${error.attribute.toString(16)} runs past the end of the message`;
    case 'malformed_attribute':
      return `malformed value of attribute 0x${error.attribute.toString(16)}`;
    case 'fingerprint_not_last':
      return 'FINGERPRINT is not the last attribute';
    case 'fingerprint_mismatch':
      return 'FINGERPRINT does not match';
  }
}
