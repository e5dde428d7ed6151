// Alias targets as a list: add one or several (comma or space separated), remove any.
import { useState } from 'preact/hooks';
import { addTargets, removeTarget } from '../lib/targets.ts';

export function TargetsEditor({ id, targets, onChange }: { id: string; targets: string[]; onChange(t: string[]): void }) {
  const [text, setText] = useState('');
  const add = () => {
    onChange(addTargets(targets, text));
    setText('');
  };
  return (
    <div class="targets">
      <ul aria-label="Targets" class="target-list">
        {targets.map((t, i) => (
          <li key={`${t}-${i}`}>
            <span class="mono">{t}</span>
            <button type="button" class="link" aria-label={`Remove target ${t}`} onClick={() => onChange(removeTarget(targets, i))}>
              Remove
            </button>
          </li>
        ))}
      </ul>
      <div class="row">
        <label for={id} class="visually-hidden">
          Add target
        </label>
        <input
          id={id}
          value={text}
          placeholder="bob@example.net or @example.net"
          onInput={(e) => setText(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter') {
              e.preventDefault();
              add();
            }
          }}
        />
        <button type="button" onClick={add} disabled={!text.trim()}>
          Add target
        </button>
      </div>
    </div>
  );
}
