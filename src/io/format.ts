/** Human-readable quantities for messages and listings. */

/** Bytes in binary units, three significant figures at most: 512 B, 4.8 KiB, 146 MiB, 1.3 GiB. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (bytes >= 1024 && i < units.length - 1) {
    bytes /= 1024;
    i++;
  }
  return `${bytes >= 100 ? bytes.toFixed(0) : bytes.toFixed(1)} ${units[i]}`;
}
