/** The STUN codec (RFC 8489, RFC 8656 and RFC 8445 attributes), demux and client transactions. */
export {
  ATTRIBUTE_CODES,
  attributeCode,
  attributeName,
  type AddressAttributeType,
  type AttributeOf,
  type FamilyAttributeType,
  type StunAttribute,
  type StunAttributeType,
  type TextAttributeType,
} from './attributes.js';
export { longTermKey, saslprep, shortTermKey } from './credentials.js';
export { crc32 } from './crc32.js';
export { classifyDatagram, type DatagramKind } from './demux.js';
export { describeStunError, type StunDecodeError, type StunDecodeErrorKind } from './errors.js';
export {
  cryptoRandom,
  messageType,
  newTransactionId,
  splitMessageType,
  transactionKey,
  type RandomSource,
  type StunClass,
} from './header.js';
export { type IntegrityAlgorithm, type IntegrityCheck } from './integrity.js';
export {
  decodeMessage,
  encodeMessage,
  errorCodeOf,
  getAttribute,
  getAttributes,
  integrityOf,
  looksLikeStun,
  verifyIntegrity,
  type EncodeOptions,
  type StunDecodeResult,
  type StunMessage,
  type StunMessageInit,
} from './message.js';
export {
  RFC8489_RETRANSMIT,
  TransactionTable,
  transactionTimeoutMs,
  type CompletedTransaction,
  type FailedTransaction,
  type RetransmitConfig,
  type TransactionTransmit,
} from './transaction.js';
