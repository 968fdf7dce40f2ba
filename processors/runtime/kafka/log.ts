/**
 * kafkajs logs through pino: one JSON log stream for the whole process, with kafkajs's fields
 * (broker, groupId, clientId, error, retry counts) kept as structured fields under
 * `component: kafkajs.<namespace>`. kafkajs reports conditions it retries by itself — a consumer
 * group rebalancing, a coordinator loading or moving, a transaction still completing — at
 * ERROR; they are part of normal operation (every instance joining or leaving causes them), so
 * they are logged at info. kafkajs has no credentials configured here, and logs none.
 */
import { logLevel, type logCreator } from 'kafkajs';
import type { Logger } from 'pino';

const RETRIED_BY_KAFKAJS =
  /rebalanc|coordinator is (loading|not available)|not the correct coordinator|concurrent.transactions|another concurrent operation on the same transaction|leader is not available|there is no leader|the group member needs to have a valid member id/i;

export function pinoLogCreator(logger: Logger): logCreator {
  return () =>
    ({ namespace, level, log }) => {
      const { message, ...rest } = log;
      // kafkajs's own timestamp and logger name are dropped: pino has its own.
      const fields: Record<string, unknown> = Object.fromEntries(
        Object.entries(rest).filter(([name]) => name !== 'timestamp' && name !== 'logger'),
      );
      const entry = { component: namespace ? `kafkajs.${namespace}` : 'kafkajs', ...fields };
      const error = typeof fields.error === 'string' ? fields.error : '';
      switch (level) {
        case logLevel.ERROR:
          if (RETRIED_BY_KAFKAJS.test(error) || RETRIED_BY_KAFKAJS.test(message)) logger.info(entry, message);
          else logger.error(entry, message);
          return;
        case logLevel.WARN:
          if (RETRIED_BY_KAFKAJS.test(error) || RETRIED_BY_KAFKAJS.test(message)) logger.info(entry, message);
          else logger.warn(entry, message);
          return;
        case logLevel.INFO:
          logger.info(entry, message);
          return;
        default:
          logger.debug(entry, message);
      }
    };
}
