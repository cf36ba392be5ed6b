/** Creating and dropping databases on a server: the tests' per-run template and per-file databases, the benchmark's. Not part of the library's runtime surface. */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export function uniqueDatabaseName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

export async function adminQuery(adminUrl: string, sql: string): Promise<void> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export async function createDatabase(adminUrl: string, name: string, template?: string): Promise<void> {
  await adminQuery(adminUrl, `create database "${name}"${template ? ` template "${template}"` : ''}`);
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  // Only ever a database this run made for itself, so ending its leftover sessions is safe.
  await adminQuery(adminUrl, `drop database if exists "${name}" with (force)`);
}
