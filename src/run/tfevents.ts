/**
 * TensorBoard's event files (what `tf.summary` and torch's SummaryWriter write): records of
 * serialized `tensorboard.Event` protobufs, each framed as TFRecord: uint64 length, masked
 * CRC32C of the length, the bytes, masked CRC32C of the bytes (all little-endian). The
 * messages are encoded by protobufjs from the field numbers of TensorFlow's event.proto and
 * summary.proto; CRC32C comes from @node-rs/crc32. Records are appended as they come, so a
 * crash loses at most the record being written.
 */
import { appendFileSync, mkdirSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { crc32c } from "@node-rs/crc32";
import protobuf from "protobufjs";
import { DataError, FileWriteError } from "../errors.js";

const root = protobuf.Root.fromJSON({
  nested: {
    tensorboard: {
      nested: {
        Event: {
          fields: {
            wall_time: { type: "double", id: 1 },
            step: { type: "int64", id: 2 },
            file_version: { type: "string", id: 3 },
            summary: { type: "Summary", id: 5 },
          },
        },
        Summary: { fields: { value: { rule: "repeated", type: "Value", id: 1 } } },
        Value: { fields: { tag: { type: "string", id: 1 }, simple_value: { type: "float", id: 2 }, image: { type: "Image", id: 4 } } },
        Image: {
          fields: {
            height: { type: "int32", id: 1 },
            width: { type: "int32", id: 2 },
            colorspace: { type: "int32", id: 3 },
            encoded_image_string: { type: "bytes", id: 4 },
          },
        },
      },
    },
  },
});
const EventType = root.lookupType("tensorboard.Event");

/** TFRecord's CRC mask: rotate right by 15 bits and add a constant (mod 2^32). */
export function maskedCrc32c(bytes: Uint8Array): number {
  const crc = crc32c(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) >>> 0;
  return (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0;
}

function frame(data: Uint8Array): Buffer {
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(data.byteLength));
  const head = Buffer.alloc(4);
  head.writeUInt32LE(maskedCrc32c(length));
  const tail = Buffer.alloc(4);
  tail.writeUInt32LE(maskedCrc32c(data));
  return Buffer.concat([length, head, Buffer.from(data), tail]);
}

export interface TfEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  values: { tag: string; simpleValue?: number; image?: { height: number; width: number; colorspace: number; encoded: Uint8Array } }[];
}

/**
 * Appends events to a new events.out.tfevents.* file in `dir`. The folder and the file are
 * made at the first event, so a job that fails before logging anything (a resume refused
 * for a bad checkpoint, say) leaves the run directory as it was.
 */
export class TfEventsWriter {
  readonly path: string;
  #started = false;

  constructor(readonly dir: string) {
    this.path = join(dir, `events.out.tfevents.${Math.floor(Date.now() / 1000)}.${hostname()}.${process.pid}`);
  }

  #write(event: Record<string, unknown>): void {
    if (!this.#started) {
      this.#started = true;
      mkdirSync(this.dir, { recursive: true });
      this.#write({ wall_time: Date.now() / 1000, file_version: "brain.Event:2" });
    }
    try {
      appendFileSync(this.path, frame(EventType.encode(EventType.fromObject(event)).finish()));
    } catch (e) {
      throw new FileWriteError(this.path, e);
    }
  }

  /** One or more scalars at `step`. */
  scalars(step: number, values: Record<string, number>): void {
    const value = Object.entries(values).map(([tag, v]) => ({ tag, simple_value: v }));
    if (value.length > 0) this.#write({ wall_time: Date.now() / 1000, step, summary: { value } });
  }

  /** An image (PNG bytes) at `step`. */
  image(step: number, tag: string, png: Uint8Array, height: number, width: number, channels: number): void {
    this.#write({
      wall_time: Date.now() / 1000,
      step,
      summary: { value: [{ tag, image: { height, width, colorspace: channels, encoded_image_string: png } }] },
    });
  }
}

/** Reads an event file back, checking every record's framing and CRCs. */
export function readTfEvents(path: string): TfEvent[] {
  const bytes = readFileSync(path);
  const events: TfEvent[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (at + 12 > bytes.length) throw new DataError(path, `record at byte ${at} is truncated`);
    const lengthBytes = bytes.subarray(at, at + 8);
    if (bytes.readUInt32LE(at + 8) !== maskedCrc32c(lengthBytes)) throw new DataError(path, `record at byte ${at}: the length's CRC does not match`);
    const length = Number(bytes.readBigUInt64LE(at));
    const start = at + 12;
    if (start + length + 4 > bytes.length) throw new DataError(path, `record at byte ${at} is truncated`);
    const data = bytes.subarray(start, start + length);
    if (bytes.readUInt32LE(start + length) !== maskedCrc32c(data)) throw new DataError(path, `record at byte ${at}: the data's CRC does not match`);
    const e = EventType.toObject(EventType.decode(data), { longs: Number, bytes: Buffer }) as {
      wall_time?: number;
      step?: number;
      file_version?: string;
      summary?: {
        value?: { tag: string; simple_value?: number; image?: { height: number; width: number; colorspace: number; encoded_image_string: Uint8Array } }[];
      };
    };
    events.push({
      wallTime: e.wall_time ?? 0,
      step: e.step ?? 0,
      ...(e.file_version !== undefined ? { fileVersion: e.file_version } : {}),
      values: (e.summary?.value ?? []).map((v) => ({
        tag: v.tag,
        ...(v.simple_value !== undefined ? { simpleValue: v.simple_value } : {}),
        ...(v.image !== undefined
          ? { image: { height: v.image.height, width: v.image.width, colorspace: v.image.colorspace, encoded: v.image.encoded_image_string } }
          : {}),
      })),
    });
    at = start + length + 4;
  }
  return events;
}
