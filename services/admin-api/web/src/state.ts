// Who is signed in, shared by the pages (Preact context).
import { createContext } from 'preact';
import type { Who } from './lib/scope.ts';

export const WhoContext = createContext<Who | null>(null);
