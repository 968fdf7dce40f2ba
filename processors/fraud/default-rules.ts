/** The checked-in default rules (default-rules.json), parsed and compiled once. */
import json from './default-rules.json' with { type: 'json' };
import { parseRules, type FraudRules } from './rules.js';

export const DEFAULT_RULES: FraudRules = parseRules(json, 'processors/fraud/default-rules.json');
