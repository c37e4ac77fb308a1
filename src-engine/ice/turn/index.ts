/** The sans-IO TURN client (RFC 8656 over UDP) and its ChannelData framing. */
export {
  decodeChannelData,
  encodeChannelData,
  isValidChannelNumber,
  writeChannelDataHeader,
  type ChannelDataError,
  type ChannelDataResult,
} from './channel-data.js';
export {
  TURN_RETRANSMIT,
  TurnClient,
  type TurnClientOptions,
  type TurnCredentials,
  type TurnState,
  type TurnStats,
  type TurnTransmit,
} from './client.js';
export {
  describeTurnFailure,
  type TurnDropReason,
  type TurnEvent,
  type TurnFailure,
  type TurnInput,
  type TurnRequestKind,
} from './events.js';
