// The bytes of JSON's grammar that the byte scanners (json-budget.ts, json-samples.ts) look for.
export const QUOTE = 0x22
export const BACKSLASH = 0x5c
export const COMMA = 0x2c
export const COLON = 0x3a
export const OPEN_ARRAY = 0x5b
export const CLOSE_ARRAY = 0x5d
export const OPEN_OBJECT = 0x7b
export const CLOSE_OBJECT = 0x7d
export const MINUS = 0x2d
export const PLUS = 0x2b
export const DOT = 0x2e
export const DIGIT_0 = 0x30
export const DIGIT_1 = 0x31
export const DIGIT_9 = 0x39
export const LOWER_E = 0x65
export const UPPER_E = 0x45
