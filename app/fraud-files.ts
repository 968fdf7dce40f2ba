/**
 * The files of fraud scoring, read once at start-up: a rules file and, when one is given instead
 * of the checked-in model, a model file. A missing, unreadable or invalid file throws
 * FraudConfigError naming the file and each bad field, for the program to exit 2 with.
 */
import { readFileSync } from 'node:fs';

import {
  FraudConfigError,
  parseJsonText,
  parseModel,
  parseRulesText,
  type FraudModel,
  type FraudRules,
} from '../processors/fraud/index.js';

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new FraudConfigError(path, [`(the document): cannot be read (${reason})`]);
  }
}

export const loadRules = (path: string): FraudRules => parseRulesText(read(path), path);

export const loadModel = (path: string): FraudModel => parseModel(parseJsonText(read(path), path), path);
