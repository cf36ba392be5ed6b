/**
 * A JSON property stored as PostgreSQL `json`, which keeps the text it was given (key order
 * included), not `jsonb`, which sorts an object's keys. The values are the same JS values as
 * MikroORM's `JsonType` (the driver parses both); only the column type differs.
 */
import { JsonType, Type, type Platform } from '@mikro-orm/core';

export class JsonTextType extends JsonType {
  override getColumnType(): string {
    return 'json';
  }
}

/**
 * For `discovery.getMappedType`: MikroORM maps a `json` column to `JsonType`, whose column type is
 * `jsonb` on PostgreSQL, so its schema diff (`migration:create`, `migration:check`) would not see
 * `json` and `jsonb` apart. A `json` column maps to `JsonTextType` instead; every other type as
 * `fallback` (the caller's own hook, if any) or MikroORM's default says.
 */
export function mapJsonText(fallback?: (type: string, platform: Platform) => Type<unknown> | undefined) {
  return (type: string, platform: Platform): Type<unknown> | undefined =>
    type.toLowerCase() === 'json' ? Type.getType(JsonTextType) : fallback?.(type, platform);
}
