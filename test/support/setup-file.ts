/**
 * Runs before every test file. The global setup initialised MikroORM in jest's outer realm; its
 * global metadata store would leak into the file's realm with Maps of the wrong realm
 * (mikro-orm/mikro-orm#3783), so each file starts with an empty store.
 */
import 'reflect-metadata';
import { MetadataStorage } from '@mikro-orm/core';

MetadataStorage.clear();
