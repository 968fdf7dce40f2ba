/** The gateway's public surface: import from here, not from files inside the folder. */
export { API_VERSION, buildGateway, type GatewayOptions } from './app.js';
export {
  ConfigError,
  envInteger,
  GATEWAY_ENV,
  gatewayConfigOf,
  jsonFileOf,
  loadGatewayConfig,
  parseEnv,
  problemLine,
  type GatewayConfig,
  type GatewayEnv,
} from './config.js';
export { ERROR_CODES, type ErrorCode, type Problem } from './errors.js';
export { maskIban } from './iban.js';
export { MemoryIdempotencyStore } from './idempotency-memory.js';
export { connectRedis, RedisIdempotencyStore } from './idempotency-redis.js';
export { MemoryAccountQueries, MemoryPaymentQueries, RecordingPublisher } from './memory-ports.js';
export type {
  AccountQueries,
  AccountView,
  CommandHeaders,
  CommandPublisher,
  GatewayPorts,
  IdempotencyBegin,
  IdempotencyScope,
  IdempotencyStore,
  PaymentEventView,
  PaymentQueries,
  PaymentSearch,
  PaymentSearchQuery,
  PaymentView,
  ReadinessCheck,
  StoredPaymentEvent,
  StoredResponse,
} from './ports.js';
export { searchWords, withSearch } from './ports.js';
export { AMOUNT_MINOR_MAX } from './schemas.js';
export { createIdempotencyStore, listenGateway } from './server.js';
export {
  KafkaCommandPublisher,
  type CommandSerializer,
  type KafkaPublisherOptions,
} from './kafka-publisher.js';
