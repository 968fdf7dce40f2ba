/** The checked-in trained model (model.json, written by `npm run fraud:train`), validated once. */
import json from './model.json' with { type: 'json' };
import { parseModel, type FraudModel } from './model.js';

export const DEFAULT_MODEL: FraudModel = parseModel(json, 'processors/fraud/model.json');
