/**
 * Kamailio db_text tables: the file format of the data the static script loads
 * (docs/node-data.md "db_text format"; Kamailio db_text module docs, "Internal format").
 */

/** A column definition: name, db_text type, whether it may be null. */
export interface DbTextColumn {
  name: string;
  type: 'int' | 'str' | 'double';
  nullable?: boolean;
}

/** A row: one value per column; null only for nullable columns. */
export type DbTextRow = (string | number | null)[];

/** Escapes a value for a db_text field: `\` -> `\\`, `:` -> `\:`, newline -> `\n`. */
export function escapeDbText(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/:/g, '\\:').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

/**
 * Renders a table file: the column header line, then one row per line.
 * @throws Error when a row's width differs from the columns (a compiler bug)
 */
export function renderDbTextTable(columns: readonly DbTextColumn[], rows: readonly DbTextRow[]): string {
  const header = columns.map((c) => `${c.name}(${c.type}${c.nullable ? ',null' : ''})`).join(' ');
  const lines = rows.map((row) => {
    if (row.length !== columns.length) throw new Error(`db_text row has ${row.length} fields, table has ${columns.length}`);
    return row.map((v) => (v === null ? '' : typeof v === 'number' ? String(Math.trunc(v)) : escapeDbText(v))).join(':');
  });
  return `${[header, ...lines].join('\n')}\n`;
}

/** The columns of every pbxctl htable (htable module defaults: key_name_column, ...). */
export const HTABLE_COLUMNS: readonly DbTextColumn[] = [
  { name: 'key_name', type: 'str' },
  { name: 'key_type', type: 'int' },
  { name: 'value_type', type: 'int' },
  { name: 'key_value', type: 'str' },
  { name: 'expires', type: 'int' },
];
